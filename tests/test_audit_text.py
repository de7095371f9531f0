"""The audit's text check with a second reader (Tesseract) and the original: real readers, real
CLI runs, no mocks.

The demo's astronaut anonymized with `--cover text` has its mission patch covered (names along
the rim of a round badge, letters 5-7 px) and must PASS; with the patch pasted back from the
original it must FAIL. A word rendered on a photo, covered by
blindspot and pasted back, must FAIL. No report (terminal, JSON, HTML) may carry the word it
found. Without Tesseract the audit still runs and says it read with one reader only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from blindspot.audit import tesseract
from blindspot.audit.text import TextLeft, distance, overlap
from blindspot.audit.views import Turn, word
from blindspot.detect.badges import Ring

needs_tesseract = pytest.mark.skipif(not tesseract.available(),
                                     reason="tesseract (eng or rus) is not installed")
PATCH = (170, 385, 44)  # the astronaut's mission patch: x, y, radius
PATCH_BOX = (126, 341, 88, 88)  # x, y, w, h around it
WORD = "KOWALSKA"


def blindspot(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindspot", *map(str, args)],
                          capture_output=True, text=True, timeout=900, check=False, env=env)


def audit_json(output: Path, original: Path | None) -> tuple[int, dict]:
    with_original = ("--original", original) if original else ()
    done = blindspot("audit", output, *with_original, "--cover", "text", "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)["files"][0]


# ---------------------------------------------------------------------------- the astronaut


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    """`blindspot demo --cover text`: the astronaut and its output; and the output with the
    mission patch pasted back from the original."""
    folder = tmp_path_factory.mktemp("demo-text")
    done = blindspot("demo", "-o", folder, "--cover", "text")
    assert done.returncode == 0, done.stderr
    paths = {"original": folder / "astronaut.jpg", "output": folder / "astronaut.anon.jpg",
             "pasted": folder / "patch-pasted.png"}
    original = np.asarray(Image.open(paths["original"]).convert("RGB"))
    out = np.array(Image.open(paths["output"]).convert("RGB"))
    x, y, r = PATCH
    patch = np.zeros(out.shape[:2], np.uint8)
    cv2.circle(patch, (x, y), r, 1, -1)
    out[patch > 0] = original[patch > 0]
    Image.fromarray(out).save(paths["pasted"])
    return paths


@needs_tesseract
def test_the_astronauts_patch_pasted_back_fails_by_place_and_length(demo):
    code, found = audit_json(demo["pasted"], demo["original"])
    assert code == 1 and found["verdict"] == "FAIL", found
    assert found["text_failing"] >= 1
    assert len(found["text_readers"]) == 2 and "Tesseract" in found["text_readers"][1]
    on_patch = [t for t in found["text_left"] if overlap(tuple(t["box"]), PATCH_BOX) > 0.5]
    assert on_patch, found["text_left"]
    for t in found["text_left"]:
        assert set(t) == {"frame", "box", "length", "confidence", "plate_like", "reader",
                          "in_original"}  # never the word
        assert t["length"] >= 3 and t["in_original"]


@needs_tesseract
def test_the_demos_output_passes(demo):
    code, found = audit_json(demo["output"], demo["original"])
    assert code == 0 and found["verdict"] == "PASS", found
    assert found["text_failing"] == 0


# ---------------------------------------------------------------------------- a planted word


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, Path]:
    """A photo with a name on a sign; blindspot's `--cover text` output (the name covered);
    and that output with the name pasted back from the photo."""
    folder = tmp_path_factory.mktemp("planted")
    photo = Image.fromarray(data.coffee())  # 400×600
    draw = ImageDraw.Draw(photo)
    sign = (150, 20, 470, 90)
    draw.rectangle(sign, fill=(236, 232, 222))
    draw.text((170, 32), WORD, fill=(25, 25, 30), font=ImageFont.load_default(size=44))
    paths = {"original": folder / "shop.png", "covered": folder / "shop.anon.png",
             "planted": folder / "planted.png"}
    photo.save(paths["original"])
    done = blindspot(paths["original"], "-o", paths["covered"], "--cover", "text")
    assert done.returncode == 0, done.stderr
    original = np.asarray(photo)
    out = np.array(Image.open(paths["covered"]).convert("RGB"))
    x1, y1, x2, y2 = sign
    assert (out[y1:y2, x1:x2] != original[y1:y2, x1:x2]).any(axis=2).mean() > 0.5
    out[y1:y2, x1:x2] = original[y1:y2, x1:x2]
    Image.fromarray(out).save(paths["planted"])
    return paths


@needs_tesseract
def test_a_planted_word_fails_and_the_covered_output_passes(planted):
    code, found = audit_json(planted["planted"], planted["original"])
    assert code == 1 and found["text_failing"] >= 1, found
    assert any(t["length"] >= 3 and overlap(tuple(t["box"]), (150, 20, 320, 70)) > 0.5
               for t in found["text_left"])
    code, found = audit_json(planted["covered"], planted["original"])
    assert found["text_failing"] == 0, found


@needs_tesseract
def test_no_report_carries_the_word(planted, tmp_path):
    """Terminal, JSON and HTML, with and without the original: the planted word is found (a
    FAIL) and never written."""
    html = tmp_path / "audit.html"
    runs = [blindspot("audit", planted["planted"], "--original", planted["original"],
                      "--cover", "text", "--html", html),
            blindspot("audit", planted["planted"], "--original", planted["original"],
                      "--cover", "text", "--json"),
            blindspot("audit", planted["planted"], "--cover", "text", "--json")]
    for done in runs:
        assert done.returncode == 1, done.stdout + done.stderr
    texts = [done.stdout + done.stderr for done in runs] + [html.read_text()]
    for text in texts:
        folded = text.casefold()
        for piece in (WORD, WORD[:5], WORD[-5:]):
            assert piece.casefold() not in folded
    assert "letters or digits read by" in runs[0].stdout
    assert json.loads(runs[2].stdout)["files"][0]["text_left"]  # found without the original


def test_a_finding_has_no_room_for_the_word():
    assert "text" not in TextLeft.__dataclass_fields__


# ---------------------------------------------------------------------------- one reader


def test_without_tesseract_the_audit_says_one_reader(demo, tmp_path):
    """PATH holds everything the audit needs but tesseract (exiftool, when installed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("exiftool", "perl"):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    done = blindspot("audit", demo["pasted"], "--original", demo["original"], "--cover", "text",
                     env=env)
    assert done.returncode in (0, 1), done.stderr
    assert "checked with one reader only" in done.stdout
    done = blindspot("audit", demo["pasted"], "--cover", "text", "--json", env=env)
    assert json.loads(done.stdout)["files"][0]["text_readers"] == \
        ["blindspot's reader (PP-OCRv4)"]


# ---------------------------------------------------------------------------- pieces


def test_edit_distance_of_the_shorter_reading_to_a_stretch_of_the_longer():
    assert distance("COLLINS", "collins") == 0
    assert distance("COLLINS", "COLUNS") == pytest.approx(2 / 6)
    assert distance("abc", "xyz") == 1
    assert distance("Волков", "Волкову") == 0
    assert distance("KA 4821 B", "4821") == 0  # a line read once as one string, once in parts
    assert distance("COLAN", "COLEMANHAWLEY") == pytest.approx(2 / 5)


def test_a_ring_unrolls_the_top_and_the_bottom_of_a_circle():
    top, bottom = Ring(100, 100, 30, 40, "top"), Ring(100, 100, 30, 40, "bottom")
    w, h = top.size()
    # The middle of the top strip's first row is the circle's top at the outer radius.
    assert top.to_picture(None, np.array([[w / 2, 0]]))[0] == pytest.approx([100, 60], abs=0.1)
    assert bottom.to_picture(None, np.array([[w / 2, 0]]))[0] == pytest.approx([100, 130], abs=0.1)
    # Read left to right: along the top clockwise (x grows), along the bottom anticlockwise.
    assert top.to_picture(None, np.array([[w / 2 + 10, 0]]))[0][0] > 100
    assert bottom.to_picture(None, np.array([[w / 2 + 10, 0]]))[0][0] > 100


def test_a_word_read_in_a_turned_view_has_its_place_in_the_picture():
    rgb = np.zeros((100, 200, 3), np.uint8)
    view = Turn(90, 2)
    x, y, w, h = word("tesseract", view, rgb.shape, (20, 40, 60, 20), "x", 1.0).box
    back = view.to_picture(rgb.shape, np.array([[20, 40], [80, 60]]))
    assert (x, y) == pytest.approx(tuple(back.min(axis=0)))
    assert (w, h) == pytest.approx((10, 30))


def test_tesseract_tsv_is_parsed():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight"
           "\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t640\t480\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t10\t20\t30\t12\t91.5\tHELLO\n"
           "5\t1\t1\t1\t1\t2\t50\t20\t30\t12\t-1\t \n")
    assert tesseract.parse_tsv(tsv) == [((10.0, 20.0, 30.0, 12.0), "HELLO", 0.915)]
