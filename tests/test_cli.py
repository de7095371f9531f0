"""The `blindspot` command's documented rules, run as a real process (exit codes, stderr)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, PngImagePlugin
from skimage import data as skdata

import blindspot
from blindspot import __version__
from blindspot.cli import COMMANDS
from blindspot.media.residue import exiftool_available, exiftool_tags, identifying_tags

# The astronaut's face in skimage's 512×512 picture (x0, y0, x1, y1), and a spot well inside it.
FACE = (170, 30, 280, 190)
FACE_CENTRE = (slice(100, 121), slice(215, 236))  # rows, columns around (x 225, y 110)
FAR = (slice(400, 500), slice(380, 500))  # lower right: arm and suit, no face

needs_exiftool = pytest.mark.skipif(not exiftool_available(), reason="exiftool not installed")


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`blindspot ARGS…` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "blindspot.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def assert_one_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """stderr is one `blindspot: error: …` line naming each of `names`; no traceback."""
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("blindspot: error: "), lines[0]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def save_astronaut(path: Path) -> Path:
    Image.fromarray(skdata.astronaut()).save(path, quality=95)
    return path


def save_small(path: Path, fmt: str | None = None) -> Path:
    """A small picture without a face (a cup of coffee), quick to anonymize."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(skdata.coffee()).resize((80, 60)).save(path, fmt)
    return path


@pytest.fixture
def astronaut(tmp_path: Path) -> Path:
    return save_astronaut(tmp_path / "astronaut.jpg")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return save_small(tmp_path / "small.jpg")


# --------------------------------------------------------------------------- anonymize


def test_anonymize_writes_anon_file_beside_input(tmp_path: Path, astronaut: Path) -> None:
    before = sha256(astronaut)
    original = pixels(astronaut)
    assert original[FACE_CENTRE].mean() > 60  # the face is visible before, so the test can fail

    result = run_cli("astronaut.jpg", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = tmp_path / "astronaut.anon.jpg"
    assert out.is_file()
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert "1 face covered" in lines[0] and "metadata removed" in lines[0]
    assert "astronaut.jpg" in lines[0] and "astronaut.anon.jpg" in lines[0]
    assert result.stderr == ""
    anon = pixels(out)
    assert anon.shape == original.shape
    assert anon[FACE_CENTRE].max() < 40  # solid: black over the face
    assert np.abs(anon[FAR] - original[FAR]).mean() < 3  # the rest is as it was
    assert sha256(astronaut) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut.anon.jpg", "astronaut.jpg"]


def test_output_option_picks_format_by_extension(tmp_path: Path, small: Path) -> None:
    result = run_cli("small.jpg", "-o", "out.png", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out.png") as image:
        assert image.format == "PNG"
        assert image.size == (80, 60)
    assert len(result.stdout.splitlines()) == 1
    assert not (tmp_path / "small.anon.jpg").exists()


def _photo_tree(root: Path) -> None:
    save_small(root / "a.jpg")
    save_small(root / "sub" / "b.png")
    save_small(root / "sub" / "deeper" / "c.webp", "WEBP")
    (root / "notes.txt").write_text("not a photo")
    (root / "sub" / "data.json").write_text("{}")


def test_folder_is_walked_and_outputs_go_beside_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    _photo_tree(folder)
    expected = {Path("a.anon.jpg"), Path("sub/b.anon.png"), Path("sub/deeper/c.anon.webp")}

    first = run_cli("shots", cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == 3
    made = {p.relative_to(folder) for p in folder.rglob("*.anon.*")}
    assert made == expected
    assert not list(folder.rglob("notes.anon*")) and not list(folder.rglob("data.anon*"))
    hashes = {p: sha256(folder / p) for p in expected}

    second = run_cli("shots", cwd=tmp_path)  # outputs exist now; .anon. files are not inputs

    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    errors = [line for line in second.stderr.splitlines() if line.startswith("blindspot: error:")]
    assert len(errors) == 3 and all("output exists" in line for line in errors)
    assert {p.relative_to(folder) for p in folder.rglob("*.anon.*")} == expected  # no .anon.anon.
    assert {p: sha256(folder / p) for p in expected} == hashes


def test_folder_with_output_mirrors_the_tree(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    _photo_tree(folder)

    result = run_cli("shots", "-o", "out", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    made = {p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert made == {Path("a.jpg"), Path("sub/b.png"), Path("sub/deeper/c.webp")}
    assert not list(folder.rglob("*.anon.*"))
    with Image.open(tmp_path / "out" / "sub" / "deeper" / "c.webp") as image:
        assert image.format == "WEBP"


def test_existing_output_is_refused_unless_forced(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "small.anon.jpg"
    out.write_bytes(b"keep me")

    refused = run_cli("small.jpg", cwd=tmp_path)

    assert refused.returncode == 1
    assert_one_error(refused, "small.anon.jpg")
    assert refused.stdout == ""
    assert out.read_bytes() == b"keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    forced = run_cli("small.jpg", "--force", cwd=tmp_path)

    assert forced.returncode == 0, forced.stderr
    with Image.open(out) as image:
        assert image.format == "JPEG"


@pytest.mark.parametrize(("command", "target", "force"), [
    ([], "small.jpg", ["--force"]),
    ([], "./small.jpg", []),
    (["clean"], "ABS", ["--force"]),
    (["clean"], "small.jpg", []),
])
def test_input_is_never_overwritten(tmp_path: Path, small: Path, command: list[str],
                                    target: str, force: list[str]) -> None:
    if target == "ABS":
        target = str(small)
    before = sha256(small)

    result = run_cli(*command, "small.jpg", "-o", target, *force, cwd=tmp_path)

    assert result.returncode != 0
    assert_one_error(result, "small.jpg")
    assert sha256(small) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.jpg"]


def test_one_bad_file_does_not_stop_the_batch(tmp_path: Path) -> None:
    save_small(tmp_path / "good1.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"this is not a JPEG at all")
    save_small(tmp_path / "good2.png")

    result = run_cli("good1.jpg", "bad.jpg", "good2.png", cwd=tmp_path)

    assert result.returncode != 0
    assert (tmp_path / "good1.anon.jpg").is_file()
    assert (tmp_path / "good2.anon.png").is_file()
    assert not list(tmp_path.glob("bad.anon*"))
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("blindspot: error:")]
    assert len(errors) == 1 and "bad.jpg" in errors[0]
    assert len(result.stdout.splitlines()) == 2


# --------------------------------------------------------------------------- detect


def _overlap(box: list[float], region: tuple[int, int, int, int]) -> float:
    """Intersection over union of an (x, y, w, h) box and an (x0, y0, x1, y1) region."""
    x, y, w, h = box
    ix = max(0.0, min(x + w, region[2]) - max(x, region[0]))
    iy = max(0.0, min(y + h, region[3]) - max(y, region[1]))
    inter = ix * iy
    area = (region[2] - region[0]) * (region[3] - region[1])
    return inter / (w * h + area - inter)


def test_detect_json_prints_boxes_keyed_by_path_as_given(tmp_path: Path,
                                                         astronaut: Path) -> None:
    save_small(tmp_path / "sub" / "coffee.png")
    given = ["astronaut.jpg", "./sub/../sub/coffee.png"]

    result = run_cli("detect", *given, "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert list(found) == given
    boxes = found["astronaut.jpg"]
    assert boxes and all(len(row) == 6 and row[5] == "face" for row in boxes)
    assert all(0.0 < row[4] <= 1.0 and row[2] > 0 and row[3] > 0 for row in boxes)
    assert max(_overlap(row[:4], FACE) for row in boxes) > 0.5
    assert found["./sub/../sub/coffee.png"] == []
    assert not [p for p in tmp_path.rglob("*") if ".anon." in p.name]  # detect writes nothing


def test_detect_failing_file_gives_one_line_and_nonzero_exit(tmp_path: Path,
                                                             small: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nothing more")

    result = run_cli("detect", "small.jpg", "broken.jpg", "--json", cwd=tmp_path)

    assert result.returncode != 0
    assert_one_error(result, "broken.jpg")
    assert json.loads(result.stdout) == {"small.jpg": []}


# --------------------------------------------------------------------------- clean


def _exif_jpeg(path: Path) -> Path:
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"SpyCam", piexif.ImageIFD.Model: b"Model 7",
                piexif.ImageIFD.Artist: b"Jane Q. Protester"},
        "Exif": {piexif.ExifIFD.BodySerialNumber: b"SN-0042",
                 piexif.ExifIFD.DateTimeOriginal: b"2026:05:01 14:03:22"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N",
                piexif.GPSIFD.GPSLatitude: ((52, 1), (31, 1), (1234, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"E",
                piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (3456, 100))},
    })
    Image.fromarray(skdata.rocket()).save(path, quality=90, exif=exif)
    return path


def _exif_png(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.34)
    gps[3], gps[4] = "E", (13.0, 24.0, 34.56)
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jane Q. Protester")
    Image.fromarray(skdata.coffee()).save(path, exif=exif, pnginfo=text)
    return path


@needs_exiftool
@pytest.mark.parametrize("name", ["street.jpg", "street.png"])
def test_clean_keeps_pixels_and_removes_identifying_metadata(tmp_path: Path, name: str) -> None:
    source = (_exif_jpeg if name.endswith(".jpg") else _exif_png)(tmp_path / name)
    had = identifying_tags(exiftool_tags(source))
    assert any("GPS" in tag for tag in had), had  # the input carries what must go
    assert any(tag.endswith(":Make") for tag in had) and any(tag.endswith(":Model") for tag in had)
    before = sha256(source)

    result = run_cli("clean", name, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = tmp_path / name.replace(".", ".clean.")
    assert out.is_file()
    assert "GPS" in result.stdout and len(result.stdout.splitlines()) == 1
    assert identifying_tags(exiftool_tags(out)) == []
    assert np.array_equal(pixels(out), pixels(source))
    with Image.open(out) as cleaned, Image.open(source) as original:
        assert cleaned.format == original.format and cleaned.mode == original.mode
    assert sha256(source) == before


# --------------------------------------------------------------------------- options


def _detail(region: np.ndarray, block: int = 8) -> float:
    """How much 8×8 block means differ from their neighbours (blind to pixel-level noise)."""
    h, w = (region.shape[0] // block) * block, (region.shape[1] // block) * block
    means = region[:h, :w].astype(np.float64).reshape(h // block, block, w // block, block, -1)
    means = means.mean(axis=(1, 3))
    return float(np.abs(np.diff(means, axis=0)).mean() + np.abs(np.diff(means, axis=1)).mean())


@pytest.mark.parametrize("mode", ["mosaic", "blur"])
def test_other_modes_cover_the_face(tmp_path: Path, astronaut: Path, mode: str) -> None:
    result = run_cli("astronaut.jpg", "--mode", mode, "-o", "out.png", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "1 face covered" in result.stdout
    original, covered = pixels(astronaut), pixels(tmp_path / "out.png")
    face = (slice(60, 170), slice(185, 265))
    assert np.abs(covered[face] - original[face]).mean() > 5  # the face changed…
    assert np.array_equal(covered[FAR], original[FAR])  # …and nothing far from it (PNG)
    if mode == "mosaic":
        distinct = len(np.unique(covered[face].reshape(-1, 3), axis=0))
        assert distinct < len(np.unique(original[face].reshape(-1, 3), axis=0)) / 10
    else:
        assert _detail(covered[face]) < _detail(original[face]) / 3


@pytest.mark.parametrize("option", [["--mode", "nope"], ["--threshold", "2"],
                                    ["--mask-scale", "0.5"], ["--threshold", "zero"]])
def test_bad_option_values_exit_2_with_one_line(tmp_path: Path, small: Path,
                                                option: list[str]) -> None:
    result = run_cli("small.jpg", *option, cwd=tmp_path)

    assert result.returncode == 2
    assert_one_error(result)
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.jpg"]


def test_detect_bad_threshold_exits_2(tmp_path: Path, small: Path) -> None:
    result = run_cli("detect", "small.jpg", "--json", "--threshold", "1.5", cwd=tmp_path)

    assert result.returncode == 2
    assert_one_error(result, "threshold")


# --------------------------------------------------------------------------- demo, help


@needs_exiftool
def test_demo_writes_a_clean_result_from_a_tagged_example(tmp_path: Path) -> None:
    result = run_cli("demo", "-o", "demo", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    where = dict(line.split(":", 1) for line in result.stdout.splitlines()
                 if line.startswith(("example:", "result:")))
    example = tmp_path / where["example"].strip()
    output = tmp_path / where["result"].strip()
    assert output.is_file() and output.parent == tmp_path / "demo"
    assert identifying_tags(exiftool_tags(example))  # the example carries GPS, make, serial…
    assert identifying_tags(exiftool_tags(output)) == []
    assert pixels(output)[FACE_CENTRE].max() < 40


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)],
                         ids=["anonymize", *COMMANDS])
def test_help(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {' '.join(['blindspot', *command])}")
    assert result.stderr == ""
    *_, heading, example = result.stdout.rstrip().splitlines()  # it ends with one example
    assert heading == "example:" and example.startswith(f"  {' '.join(['blindspot', *command])} ")
    if not command:  # and blindspot's own lists every command, one line each
        for name, (line, _) in COMMANDS.items():
            assert f"  {name}" in result.stdout and line in result.stdout


def test_a_mistyped_command_is_named(tmp_path: Path) -> None:
    result = run_cli("reveiw", "photos/", cwd=tmp_path)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("blindspot: error: reveiw: no such file or command; did you mean "
                             "blindspot review?\n")


def test_help_as_a_command(tmp_path: Path) -> None:
    assert run_cli("help", cwd=tmp_path).stdout == run_cli("--help", cwd=tmp_path).stdout
    assert run_cli("help", "audit", cwd=tmp_path).stdout.startswith("usage: blindspot audit")


def test_version_names_the_bundled_models(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)

    assert result.returncode == 0 and result.stdout.startswith(f"blindspot {__version__}\n")
    models = Path(blindspot.__file__).parent / "models"
    for model in models.glob("*.onnx"):
        assert f"  {model.name}" in result.stdout
