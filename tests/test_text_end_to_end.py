"""Text and plates end to end on real pictures: the CLI's summary and report, the demo's name
tag, and the audit that reads what text is left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_text import ASTRONAUT_NAME, patch_name_sectors, patch_names, plate_scene


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindspot", *map(str, args)],
                          capture_output=True, text=True, timeout=600, check=False)


def changed(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of the pixels of `box` hidden in `b`: they differ clearly from `a` (by more than
    JPEG noise) or were black already (the solid cover's colour; bench/text.py counts so)."""
    x1, y1, x2, y2 = box
    a, b = a[y1:y2, x1:x2].astype(int), b[y1:y2, x1:x2].astype(int)
    return float(((np.abs(a - b).max(axis=2) > 40) | (a.max(axis=2) == 0)).mean())


def test_the_demos_name_tag_is_covered_with_cover_text(tmp_path):
    faces = run("demo", "-o", tmp_path / "faces")
    text = run("demo", "-o", tmp_path / "text", "--cover", "text")
    assert faces.returncode == text.returncode == 0, faces.stderr + text.stderr
    assert "1 face covered" in faces.stdout
    assert re.search(r": 1 face, 0 plates, \d+ text regions? covered;", text.stdout), text.stdout
    source = np.asarray(Image.open(tmp_path / "text" / "astronaut.jpg").convert("RGB"))
    as_faces = np.asarray(Image.open(tmp_path / "faces" / "astronaut.anon.jpg").convert("RGB"))
    as_text = np.asarray(Image.open(tmp_path / "text" / "astronaut.anon.jpg").convert("RGB"))
    assert changed(source, as_faces, ASTRONAUT_NAME) < 0.05  # faces only: the name is there
    assert changed(source, as_text, ASTRONAUT_NAME) > 0.8
    names = patch_names(source.shape)  # the crew's names on the mission patch
    hidden = (np.abs(source.astype(int) - as_text).max(axis=2) > 40) | (as_text.max(axis=2) == 0)
    assert hidden[names].mean() > 0.9
    # Every name whole: no sector of the rim (a name's first letters) shows (the "CO" of
    # "COLEMAN" did, until the rim lines were grown along the arc: `RIM_END_PAD`).
    assert min(hidden[sector].mean() for sector in patch_name_sectors(source.shape)) > 0.8


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> dict[str, Path]:
    """A plate and a sign; anonymized with faces only and with faces and plates."""
    folder = tmp_path_factory.mktemp("street")
    scene, _ = plate_scene()
    import cv2
    cv2.putText(scene, "please keep this gate closed", (60, 120), cv2.FONT_HERSHEY_SIMPLEX,
                1.6, (20, 20, 20), 4)
    source = folder / "street.png"
    Image.fromarray(scene).save(source)
    faces = run(source, "-o", folder / "faces.png")
    plates = run(source, "-o", folder / "plates.png", "--cover", "faces,plates",
                 "--report", folder / "report.json")
    assert faces.returncode == plates.returncode == 0, faces.stderr + plates.stderr
    return {"source": source, "faces": folder / "faces.png", "plates": folder / "plates.png",
            "report": folder / "report.json", "line": plates.stdout}


def test_plates_covered_and_other_text_left_and_counted(street):
    """The plate is covered; the sign's line is found and left as it is (a piece of it may be
    taken for a plate: geometry alone calls short lines plates, see README)."""
    _, plate = plate_scene()
    assert re.search(r": 0 faces, \d+ plates? covered; 1 text region left: --cover text;",
                     street["line"]), street["line"]
    source = np.asarray(Image.open(street["source"]))
    out = np.asarray(Image.open(street["plates"]))
    assert changed(source, out, plate) > 0.8  # the plate (its frame mostly: padded)
    assert changed(source, out, (60, 80, 700, 130)) < 0.9  # the sign, not all covered
    report = json.loads(street["report"].read_text())
    assert report["text_model"]["name"] == "ppocrv4_det.onnx"
    assert report["settings"]["cover"] == ["faces", "plates"]
    entry = report["files"][0]
    assert entry["covered"]["plate"] >= 1 and entry["left_visible"] == {"text": 1}
    assert {row[5] for row in entry["frames_boxes"][0]} == {"plate"}


def test_audit_fails_a_plate_left_readable_only_when_plates_were_asked(street):
    left = run("audit", street["faces"], "--cover", "faces,plates", "--json")
    assert left.returncode == 1, left.stderr
    found = json.loads(left.stdout)["files"][0]
    assert found["verdict"] == "FAIL" and found["text_failing"] >= 1
    # The report names where and how long, never what (the plate KA 4821 B: 7 characters).
    assert any(t["plate_like"] and t["length"] == 7 for t in found["text_left"])
    assert "4821" not in json.dumps(found)
    # The same output audited as a faces-only anonymization: the text is reported, no FAIL.
    info = run("audit", street["faces"])
    assert info.returncode == 0 and "PASS" in info.stdout, info.stdout
    covered = run("audit", street["plates"], "--cover", "faces,plates", "--json")
    assert covered.returncode == 0, covered.stdout
    result = json.loads(covered.stdout)["files"][0]
    assert result["text_failing"] == 0
    assert not any(t["plate_like"] for t in result["text_left"])
