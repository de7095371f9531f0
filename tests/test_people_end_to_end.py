"""Whole people end to end on real pictures: `--cover people` in the CLI's summary and report,
in video (every frame covered, the frames between detections too), and the audit's check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import far_region, write_clip_with_sound
from PIL import Image
from test_text_end_to_end import run

from blindspot.detect.people import PeopleDetector


@pytest.fixture(scope="module")
def astronaut_people(tmp_path_factory, astronaut) -> dict:
    """The astronaut (a person to the waist) anonymized with faces only and with people."""
    folder = tmp_path_factory.mktemp("people")
    source = folder / "astronaut.png"
    Image.fromarray(astronaut).save(source)
    faces = run(source, "-o", folder / "faces.png")
    people = run(source, "-o", folder / "people.png", "--cover", "people",
                 "--report", folder / "report.json")
    assert faces.returncode == people.returncode == 0, faces.stderr + people.stderr
    return {"source": source, "faces": folder / "faces.png", "people": folder / "people.png",
            "report": folder / "report.json", "line": people.stdout, "faces_line": faces.stdout}


def test_cover_people_hides_the_body_not_only_the_face(astronaut_people, astronaut):
    faces = np.asarray(Image.open(astronaut_people["faces"]))
    people = np.asarray(Image.open(astronaut_people["people"]))
    assert np.array_equal(far_region(faces), far_region(astronaut))  # faces only: suit shown
    assert far_region(people).max() == 0  # the suit is inside the filled person box
    assert ": 1 face, 1 person covered" in astronaut_people["line"]
    assert "person" not in astronaut_people["faces_line"]
    report = json.loads(astronaut_people["report"].read_text())
    assert report["people_model"]["name"] == "yolox_nano.onnx"
    entry = report["files"][0]
    assert entry["covered"]["person"] == 1
    assert "person" in {row[5] for row in entry["frames_boxes"][0]}


def test_audit_fails_a_person_left_only_when_people_were_asked(astronaut_people):
    left = run("audit", astronaut_people["faces"], "--cover", "people", "--json")
    assert left.returncode == 1, left.stderr
    found = json.loads(left.stdout)["files"][0]
    assert found["verdict"] == "FAIL" and found["people_left"]
    assert max(p["score"] for p in found["people_left"]) > 0.8
    # The same output audited as a faces-only anonymization: the person is what it shows.
    assert run("audit", astronaut_people["faces"]).returncode == 0
    covered = run("audit", astronaut_people["people"], "--cover", "people")
    assert covered.returncode == 0 and "PEOPLE LEFT" in covered.stdout, covered.stdout


def test_a_person_is_covered_on_every_frame_of_a_video(tmp_path, astronaut):
    """The person walks across the picture; detection runs on every 4th frame and the thorough
    passes never: tracking covers the frames between (the middle of the person's box, found
    on each original frame, is black on every output frame)."""
    from blindspot.media.video_reader import read_frames
    from blindspot.options import Options
    from blindspot.run.pipeline import anonymize_file

    pictures = [np.ascontiguousarray(np.roll(astronaut, 8 * i, axis=1)[::2, ::2])
                for i in range(14)]
    clip = write_clip_with_sound(tmp_path / "walk.mp4", pictures, 0)
    out = tmp_path / "walk.anon.mp4"
    result = anonymize_file(clip, out, Options(cover=("people",), detect_every=4,
                                               full_every=0))
    assert result.covered.get("person", 0) >= 1
    detector = PeopleDetector()
    frames = [f.rgb for f in read_frames(out)]
    assert len(frames) == len(pictures)
    for index, (before, after) in enumerate(zip(pictures, frames, strict=True)):
        found = detector.detect(before)
        person = found.boxes[found.scores.argmax()]
        x1, y1, x2, y2 = person.round().astype(int)
        w, h = x2 - x1, y2 - y1
        middle = after[y1 + h // 4:y2 - h // 4, x1 + w // 4:x2 - w // 4]
        assert middle.max() < 40, f"frame {index}: the person is not covered"
