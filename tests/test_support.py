"""Weak face boxes are kept only where something supports them (no phantom faces): the weak
boxes the face detector puts on a photo of galaxies go, a real small weak face stays, on
photos and video frames alike (one path: `KindsDetector`)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT_FACE
from skimage import data

from blindspot.detect.faces import FaceDetector
from blindspot.detect.support import FaceSupport, SupportSettings, _crop, in_crowd, on_head
from blindspot.detections import Detections, iou_matrix
from blindspot.options import Options
from blindspot.run.pipeline import detect_file, detect_image, photo_detector, video_detectors

# The astronaut's whole picture scaled so her face (brows to chin) is 8 px tall, darkened to
# 30 %: a real face the detector scores about as low as the weak boxes it puts on galaxies.
SMALL_SIDE = 8
DARK = 0.3
AT = (100, 100)  # where the small picture's top left corner goes (x, y)


def small_face_on_galaxies() -> tuple[np.ndarray, np.ndarray]:
    """The Hubble deep field (real, no face: CenterFace puts weak boxes on its galaxies) with
    the small dark astronaut on it, and her face's box."""
    k = SMALL_SIDE / (ASTRONAUT_FACE[3] - ASTRONAUT_FACE[1])
    small = cv2.resize(data.astronaut(), None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    picture = data.hubble_deep_field().copy()
    x, y = AT
    picture[y:y + small.shape[0], x:x + small.shape[1]] = (small * DARK).astype(np.uint8)
    return picture, np.array(ASTRONAUT_FACE, np.float64) * k + [x, y, x, y]


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return small_face_on_galaxies()


def test_the_galaxies_weak_boxes_go_and_the_small_face_stays(scene):
    picture, face = scene
    found = photo_detector(Options()).faces.detect(picture)  # the detector alone
    on_face = iou_matrix(face, found.boxes)[0] >= 0.3
    galaxies = ~on_face & (found.scores < SupportSettings.sure)
    assert on_face.any() and galaxies.sum() >= 3  # what the filter has to judge

    kept = detect_image(picture, Options()).of_kind("face")  # the product's one path
    assert (iou_matrix(face, kept.boxes)[0] >= 0.3).any(), "the small face must stay covered"
    elsewhere = iou_matrix(face, kept.boxes)[0] < 0.3
    assert (kept.scores[elsewhere] >= SupportSettings.sure).all(), "a galaxy's weak box stayed"


def test_a_weak_small_face_is_kept_by_the_second_look(scene):
    """However the detector scores the small dark face (a weak one is what matters), the model
    finds it again on its surroundings, and none of the galaxies."""
    picture, face = scene
    detector = FaceDetector()
    found = detector.detect(picture)
    on_face = iou_matrix(face, found.boxes)[0] >= 0.3
    weak = Detections(found.boxes, np.where(on_face, 0.2, np.minimum(found.scores, 0.29)))
    support = FaceSupport(SupportSettings(crowd_faces=0), detector.model, None)
    kept = support.supported(picture, weak)
    assert kept[on_face].all() and not kept[~on_face].any()


def test_a_sure_face_needs_no_support(astronaut):
    kept = detect_image(astronaut, Options()).of_kind("face")
    assert len(kept) == 1 and iou_matrix(ASTRONAUT_FACE, kept.boxes)[0, 0] > 0.5


def test_off_keeps_every_box(scene):
    picture, _ = scene
    detector = FaceDetector()
    found = detector.detect(picture)
    kept = FaceSupport(SupportSettings.off(), detector.model, None).filter(picture, found)
    assert len(kept) == len(found)


def test_head_support_is_the_top_of_a_person_no_wider_than_them():
    person = np.array([[100, 100, 160, 300]], np.float64)
    faces = np.array([[120, 110, 140, 130],  # a head
                      [120, 250, 140, 270],  # a knee
                      [60, 100, 200, 140],  # wider than the person
                      [300, 110, 320, 130]], np.float64)  # beside them
    assert on_head(faces, person, 0.35, 0.05).tolist() == [True, False, False, False]


def test_crowd_support_needs_sure_faces_of_its_size_nearby():
    row = np.array([[x, 100, x + 10, 110] for x in range(0, 100, 12)], np.float64)
    sure = np.zeros(len(row), bool)
    sure[[0, 1, 2]] = True
    crowd = in_crowd(row, sure, 2, 6.0, 2.0)
    assert crowd[3] and crowd[4] and not crowd[:3].any()  # near two sure faces; not self
    assert not crowd[8]  # 60 px (6 sides) and more from the nearest two
    big = np.concatenate([row, [[40, 100, 100, 160]]])  # a 60 px box among 10 px faces
    assert not in_crowd(big, np.append(sure, False), 2, 6.0, 2.0)[-1]


def test_video_frames_take_the_same_path(tmp_path, scene):
    picture, face = scene

    def no_weak_galaxy(boxes: Detections) -> bool:
        weak = boxes.of_kind("face").select(boxes.of_kind("face").scores < SupportSettings.sure)
        return bool((iou_matrix(face, weak.boxes)[0] > 0).all())

    h, w = (s - s % 2 for s in picture.shape[:2])
    path = tmp_path / "galaxies.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(6):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture[:h, :w], "rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with av.open(str(path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    light, thorough = video_detectors(Options())
    for detector in (light, thorough):
        raw = detector.faces.detect(first)
        assert (raw.scores < SupportSettings.sure).sum() >= 3  # the galaxies' weak boxes
        # In a video the filter marks them, for tracking to judge (nothing confirms them).
        found = detector.detect(first)
        assert no_weak_galaxy(found.select(~found.tentative_mask()))
        assert found.tentative_mask().sum() >= 3
    frames = detect_file(path, Options())
    assert len(frames) == 6
    assert all(no_weak_galaxy(boxes) for boxes in frames)  # tracked, frame by frame
    assert all(boxes.tentative is None for boxes in frames)


def test_support_keeps_order_and_kinds():
    boxes = Detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.5]))
    kept = FaceSupport(SupportSettings(), None, None).filter(np.zeros((80, 80, 3), np.uint8),
                                                            boxes)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.5])


def test_the_second_look_at_a_large_box_is_small():
    """A weak box as large as a 12 MP photo is looked at again in a crop of about
    `recheck_context` × `recheck_side` px (scaled before its edges are padded)."""
    picture = np.zeros((3000, 4000, 3), np.uint8)
    crop, expected = _crop(picture, np.array([500.0, 0.0, 3500.0, 3000.0]), 4.0, 32)
    assert crop.shape[0] <= 130 and crop.shape[1] <= 130
    assert expected[2] - expected[0] == pytest.approx(32)


def test_in_a_video_a_face_kept_before_supports_a_weak_box():
    """On a blank frame nothing else supports a weak box: the one overlapping a face the
    previous detection run kept stays, the other goes."""
    blank = np.full((240, 320, 3), 90, np.uint8)
    weak = Detections(np.array([[40, 40, 80, 90], [200, 40, 240, 90]]), np.array([0.2, 0.2]))
    before = Detections(np.array([[44, 42, 84, 92]]), np.array([0.8]))
    support = FaceSupport(SupportSettings(), FaceDetector().model, None)
    assert support.supported(blank, weak, near=before).tolist() == [True, False]
    assert support.supported(blank, weak).tolist() == [False, False]


def test_keep_weak_covers_every_box_the_detector_found(scene):
    """`--keep-weak`: the user who wants no weak face dropped gets every weak box back."""
    import subprocess
    import sys
    picture, _ = scene
    found = photo_detector(Options()).faces.detect(picture)
    assert len(detect_image(picture, Options()).of_kind("face")) < len(found)
    assert len(detect_image(picture, Options(keep_weak=True)).of_kind("face")) == len(found)
    for command in ("anonymize", "detect", "review"):
        done = subprocess.run([sys.executable, "-m", "blindspot", command, "--help"],
                              capture_output=True, text=True, check=True)
        assert "--keep-weak" in done.stdout
