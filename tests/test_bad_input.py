"""Bad input: every kind fails with one `blindspot: error:` line, no output and no traceback.

Each case is built in a fresh folder and run through the real command (anonymize and
`clean`): the exit code is non-zero, stderr is exactly one line naming the file, nothing is
written beside it (no `NAME.anon.*`, no `.NAME.*.tmp`) and the input is byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image
from skimage import data as skdata

from blindspot.media.atomic import atomic_output

pillow_heif.register_heif_opener()


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`blindspot ARGS…` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "blindspot.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below `folder` (dot files included), with each file's sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file() else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


# --------------------------------------------------------------------------- building cases


def _small() -> Image.Image:
    return Image.fromarray(skdata.coffee()).resize((64, 48))


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG (valid CRCs) whose header claims `width`×`height` px, tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def _idat(png: bytes) -> tuple[int, int]:
    """(offset of the first IDAT payload, its length)."""
    at = png.index(b"IDAT")
    return at + 4, struct.unpack(">I", png[at - 4:at])[0]


def _png_bad_crc() -> bytes:
    png = _encode(_small(), "PNG")
    start, length = _idat(png)
    crc = png[start + length:start + length + 4]
    return png[:start + length] + bytes(b ^ 0xFF for b in crc) + png[start + length + 4:]


def _png_corrupt_idat() -> bytes:
    """The second half of the compressed pixels zeroed, with a CRC that matches the damage.

    Zeros still inflate (to black rows), so Pillow alone decodes this into a half-black
    picture without complaint: the zlib stream never ends and its checksum is never seen.
    """
    png = _encode(_small(), "PNG")
    start, length = _idat(png)
    payload = bytearray(png[start:start + length])
    payload[length // 2:] = bytes(length - length // 2)
    return png[:start - 8] + _chunk(b"IDAT", bytes(payload)) + png[start + length + 4:]


def _png_garbage_idat() -> bytes:
    png = _encode(_small(), "PNG")
    start, length = _idat(png)
    payload = bytearray(png[start:start + length])
    payload[10:60] = random.Random(7).randbytes(50)
    return png[:start - 8] + _chunk(b"IDAT", bytes(payload)) + png[start + length + 4:]


def _gif(frames: int) -> bytes:
    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
              for _ in range(frames)]
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100)


def _cut(blob: bytes, fraction: float) -> bytes:
    return blob[:int(len(blob) * fraction)]


def _write(name: str, content: bytes | Callable[[], bytes]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        (folder / name).write_bytes(content() if callable(content) else content)
        return name
    return build


def _missing(folder: Path) -> str:
    return "not-there.jpg"


def _empty_folder(folder: Path) -> str:
    (folder / "empty").mkdir()
    return "empty"


def _folder_without_photos(folder: Path) -> str:
    (folder / "docs" / "sub").mkdir(parents=True)
    (folder / "docs" / "notes.txt").write_text("meeting at noon")
    (folder / "docs" / "sub" / "song.mid").write_bytes(b"MThd" + bytes(100))
    (folder / "docs" / ".hidden.jpg").write_bytes(_encode(_small(), "JPEG"))  # hidden: skipped
    return "docs"


def _sound(suffix: str) -> bytes:
    """Two seconds of a tone as a sound file with `suffix` (through a temporary folder)."""
    import tempfile

    from soundfiles import TAGS, write_sound
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)
    with tempfile.TemporaryDirectory() as folder:
        return write_sound(Path(folder) / f"tone{suffix}", tone, 16000, TAGS).read_bytes()


def _mp4_named_mp3() -> bytes:
    import tempfile

    import av
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for index in range(3):
                frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "rgb24")
                frame.pts = index
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return path.read_bytes()


# name → (builder returning the path as given, extra options)
CASES: dict[str, tuple[Callable[[Path], str], list[str]]] = {
    "zero-byte-jpeg": (_write("empty.jpg", b""), []),
    "jpeg-cut-at-half": (_write("half.jpg", lambda: _cut(_encode(_small(), "JPEG"), 0.5)), []),
    "jpeg-cut-at-10-bytes": (_write("ten.jpg", lambda: _encode(_small(), "JPEG")[:10]), []),
    "progressive-jpeg-cut": (_write("prog.jpg", lambda: _cut(
        _encode(_small(), "JPEG", progressive=True), 0.6)), []),
    "png-cut": (_write("cut.png", lambda: _cut(_encode(_small(), "PNG"), 0.5)), []),
    "webp-cut": (_write("cut.webp", lambda: _cut(_encode(_small(), "WEBP"), 0.5)), []),
    "lossless-webp-cut": (_write("cutl.webp", lambda: _cut(
        _encode(_small(), "WEBP", lossless=True), 0.7)), []),
    "text-named-png": (_write("text.png", b"This is a text file, not a picture.\n"), []),
    "random-bytes-jpeg": (_write("noise.jpg", random.Random(1).randbytes(4096)), []),
    "ppm-named-jpeg": (_write("ppm.jpg", lambda: _encode(_small(), "PPM")), []),
    "ico-named-jpeg": (_write("ico.jpg", lambda: _encode(_small(), "ICO")), []),
    "pdf-named-jpeg": (_write("pdf.jpg", lambda: _encode(_small(), "PDF")), []),
    "png-bomb-100000px": (_write("bomb.png", lambda: _png_claiming(100_000, 100_000)), []),
    "png-bomb-warning-size": (_write("big.png", lambda: _png_claiming(13_000, 13_000)), []),
    "over-max-pixels": (_write("fine.png", lambda: _encode(_small(), "PNG")),
                        ["--max-pixels", "1000"]),
    "nonexistent-path": (_missing, []),
    "empty-folder": (_empty_folder, []),
    "folder-without-photos": (_folder_without_photos, []),
    "png-bad-crc": (_write("crc.png", _png_bad_crc), []),
    "png-zeroed-idat": (_write("zeroed.png", _png_corrupt_idat), []),
    "png-garbage-idat": (_write("garbage.png", _png_garbage_idat), []),
    "gif-cut-mid-frame": (_write("anim.gif", lambda: _cut(_gif(3), 0.6)), []),
    "gif-cut-first-frame": (_write("one.gif", lambda: _cut(_gif(1), 0.5)), []),
    "heic-cut": (_write("cut.heic", lambda: _cut(_encode(_small(), "HEIF", quality=80), 0.5)),
                 []),
    "tiff-cut": (_write("cut.tif", lambda: _cut(_encode(_small(), "TIFF"), 0.6)), []),
    "deflate-tiff-cut": (_write("cutz.tif", lambda: _cut(
        _encode(_small(), "TIFF", compression="tiff_deflate"), 0.95)), []),
    # Sound files
    "zero-byte-wav": (_write("empty.wav", b""), []),
    "wav-cut-in-its-header": (_write("head.wav", lambda: _sound(".wav")[:30]), []),
    "flac-cut-at-half": (_write("half.flac", lambda: _cut(_sound(".flac"), 0.5)), []),
    "m4a-cut-at-half": (_write("half.m4a", lambda: _cut(_sound(".m4a"), 0.5)), []),
    "ogg-random-bytes": (_write("noise.ogg", random.Random(2).randbytes(4096)), []),
    "jpeg-named-mp3": (_write("photo.mp3", lambda: _encode(_small(), "JPEG")), []),
    "video-named-mp3": (_write("clip.mp3", _mp4_named_mp3), []),
    "sound-over-max-duration": (_write("long.flac", lambda: _sound(".flac")),
                                ["--max-duration", "1"]),
}


# Bad only for the anonymizer: `clean` has no --max-duration and reads a photo whatever its
# extension.
ANONYMIZE_ONLY = {"jpeg-named-mp3", "sound-over-max-duration"}
RUNS = [(case, command) for case in CASES for command in ([], ["clean"])
        if not (command and case in ANONYMIZE_ONLY)]


@pytest.mark.parametrize(("case", "command"), RUNS,
                         ids=[f"{c}-{'clean' if m else 'anonymize'}" for c, m in RUNS])
def test_bad_input_fails_cleanly(tmp_path: Path, case: str, command: list[str]) -> None:
    build, options = CASES[case]
    given = build(tmp_path)
    before = snapshot(tmp_path)

    result = run_cli(*command, given, *options, cwd=tmp_path)

    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("blindspot: error: "), lines[0]
    assert given in lines[0], lines[0]
    assert "internal error" not in lines[0], lines[0]  # a bad file is not a bug of ours
    assert result.stdout == ""
    assert snapshot(tmp_path) == before  # no output, no temporary file, input untouched


def test_cases_are_what_they_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """The files that should decode as something do: the failures above are the damage's."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    fine = _encode(_small(), "PNG")
    with Image.open(io.BytesIO(fine)) as image:
        image.load()
    with Image.open(io.BytesIO(_png_claiming(100_000, 100_000)), formats=["PNG"]) as image:
        assert image.size == (100_000, 100_000)
    for blob in (_png_bad_crc(), _png_corrupt_idat()):
        assert len(blob) == len(fine)
        with Image.open(io.BytesIO(blob)) as image:
            image.load()  # Pillow alone accepts these: only blindspot's own check refuses them
    for fmt in ("PPM", "ICO"):
        with Image.open(io.BytesIO(_encode(_small(), fmt))) as image:
            assert image.format == fmt


def test_detect_refuses_damaged_png(tmp_path: Path) -> None:
    (tmp_path / "zeroed.png").write_bytes(_png_corrupt_idat())

    result = run_cli("detect", "zeroed.png", "--json", cwd=tmp_path)

    assert result.returncode != 0
    assert result.stderr.startswith("blindspot: error: zeroed.png: ")
    assert len(result.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- atomic writes


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.jpg"
    with pytest.raises(RuntimeError), atomic_output(target) as f:
        f.write(b"half a picture")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_forced_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"the old output")
    with pytest.raises(KeyboardInterrupt), atomic_output(target, overwrite=True) as f:
        f.write(b"half a new picture")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"the old output"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_completed_write_appears_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.jpg"
    with atomic_output(target) as f:
        f.write(b"a whole picture")
        assert not target.exists()  # not before the block ends
    assert target.read_bytes() == b"a whole picture"
    assert [p.name for p in target.parent.iterdir()] == ["out.jpg"]
