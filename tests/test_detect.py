"""The detector finds real faces, ships its model intact, and merges tiles without loss."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT_FACE

from blindspot.detect import faces as detect_module
from blindspot.detect import openvino_cpu
from blindspot.detect.faces import CenterFace, FaceDetector
from blindspot.detect.onnx import PROVIDERS, session
from blindspot.detect.openvino_cpu import CpuModel, native_precision
from blindspot.detect.tiles import tile_grid
from blindspot.detections import Detections, iou_matrix, nms, nms_groups
from blindspot.errors import BlindspotError
from blindspot.options import Options


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_finds_the_astronaut(detector, astronaut):
    dets = detector.detect(astronaut)
    assert len(dets) >= 1
    assert iou_matrix(dets.boxes, [ASTRONAUT_FACE]).max() > 0.5


def test_finds_no_face_in_coffee(detector, no_face):
    assert len(detector.detect(no_face).above(0.5)) == 0


def test_finds_a_small_face_in_a_large_picture(detector, astronaut):
    """A 24 px face in a 1600×1200 scene: what a single pass misses in crowds."""
    face = astronaut[20:200, 160:300]
    small = face[::7, ::7][:, :, :]  # about 26×20 px
    scene = np.full((1200, 1600, 3), 120, np.uint8)
    scene[700:700 + small.shape[0], 900:900 + small.shape[1]] = small
    dets = detector.detect(scene)
    target = [900, 700, 900 + small.shape[1], 700 + small.shape[0]]
    assert len(dets) and iou_matrix(dets.boxes, [target]).max() > 0.3


def test_uses_an_explicit_cpu_provider():
    assert PROVIDERS == ["CPUExecutionProvider"]
    assert session(detect_module._load_model_bytes()).get_providers() == PROVIDERS


def test_float32_is_onnx_runtimes_model_and_bfloat16_finds_the_same_face(astronaut):
    """Asked for float32, the model is ONNX Runtime's CPU session; in the default precision
    (bfloat16 on OpenVINO where the CPU has it) it finds the same face, its heatmap within a
    few hundredths of float32's."""
    exact = CenterFace(precision="f32")
    assert exact.precision == "f32"
    assert exact.model.get_providers() == PROVIDERS
    default = CenterFace()
    assert default.precision == native_precision("auto")
    blob = np.ascontiguousarray(astronaut.transpose(2, 0, 1)[None], dtype=np.float32)
    reference, fast = exact._infer(blob)[0], default._infer(blob)[0]
    assert reference.shape == fast.shape
    assert np.abs(reference - fast).max() < 0.05
    found, found_fast = exact.run(astronaut, 0.5), default.run(astronaut, 0.5)
    assert len(found) == len(found_fast) == 1
    assert iou_matrix(found.boxes, found_fast.boxes)[0, 0] > 0.95


@pytest.mark.skipif(native_precision("auto") != "bf16",
                    reason="this CPU does not compute bfloat16 natively")
def test_bfloat16_runs_on_openvino():
    assert isinstance(CenterFace().model, CpuModel)


def test_pictures_run_at_once_find_what_they_find_one_by_one(astronaut):
    """A picture's passes and tiles go to the model `streams` at a time (OpenVINO's streams
    where the CPU computes bfloat16), each from its own thread: the boxes are those of one at
    a time, in the same order."""
    scene = np.full((1200, 1600, 3), 120, np.uint8)
    scene[100:612, 200:712] = astronaut[:, :, :]
    scene[700:726, 900:920] = astronaut[20:200, 160:300][::7, ::7]
    at_once = FaceDetector()
    one_by_one = FaceDetector(model=CenterFace())
    one_by_one.model.streams = 1
    a, b = at_once.detect(scene), one_by_one.detect(scene)
    assert len(a) >= 2 and np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
    if native_precision("auto") == "bf16" and (os.cpu_count() or 1) >= 2:
        assert at_once.model.streams >= 2


def test_without_openvino_the_model_stays_in_float32_on_onnx_runtime(monkeypatch, astronaut):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails
    openvino_cpu._core.cache_clear()
    try:
        assert native_precision("auto") == "f32"
        model = CenterFace()
        assert model.precision == "f32" and model.model.get_providers() == PROVIDERS
        assert len(model.run(astronaut, 0.5)) == 1
    finally:
        openvino_cpu._core.cache_clear()


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        CenterFace(precision="int8")


def test_a_damaged_model_is_refused(monkeypatch):
    monkeypatch.setattr(detect_module, "MODEL_SHA256", "0" * 64)
    with pytest.raises(BlindspotError, match="damaged"):
        CenterFace()


@pytest.mark.parametrize("w,h,size,overlap", [(1000, 700, 320, 48), (320, 320, 320, 48),
                                              (100, 50, 320, 48), (2001, 999, 213, 40)])
def test_tiles_cover_every_face_no_larger_than_the_overlap(w, h, size, overlap):
    tiles = tile_grid(w, h, size, overlap)
    covered = np.zeros((h, w), int)
    for t in tiles:
        assert t.w <= size and t.h <= size and t.x + t.w <= w and t.y + t.h <= h
        covered[t.y:t.y + t.h, t.x:t.x + t.w] += 1
    assert covered.min() >= 1
    rng = np.random.default_rng(0)
    for _ in range(200):
        x, y = rng.integers(0, max(1, w - overlap)), rng.integers(0, max(1, h - overlap))
        assert any(t.x <= x and x + overlap <= t.x + t.w and t.y <= y and y + overlap <= t.y + t.h
                   for t in tiles)


def test_nms_merges_duplicates_and_keeps_neighbours():
    dets = Detections([[0, 0, 10, 10], [1, 1, 11, 11], [20, 0, 30, 10]], [0.9, 0.8, 0.7])
    kept = nms(dets, 0.4)
    assert len(kept) == 2
    # the merged box still covers both duplicates
    assert kept.boxes[0].tolist()[:2] == [0, 0] and kept.boxes[0][2] >= 10


def test_a_face_cut_by_tile_edges_gives_one_box(detector, astronaut):
    """The astronaut's face scaled to fill a 700×700 frame (a talking head): the tiles cut it
    into halves and quarters, which used to come out as extra faces inside the face."""
    import cv2
    x1, y1, x2, y2 = ASTRONAUT_FACE
    crop = astronaut[max(0, y1 - 60):y2 + 120, max(0, x1 - 80):x2 + 80]
    k = 700 / max(crop.shape[:2])
    frame = cv2.resize(crop, (round(crop.shape[1] * k), round(crop.shape[0] * k)))
    tiles = tile_grid(frame.shape[1], frame.shape[0], int(1024 / 2.4), 48)
    assert len(tiles) > 1  # the premise: tile edges run through the face
    dets = detector.detect(frame)
    assert len(dets) == 1, dets.boxes


def test_drop_contained_keeps_separate_faces_and_drops_parts():
    from blindspot.detections import drop_contained
    dets = Detections([[0, 0, 100, 120], [10, 60, 50, 115], [200, 0, 240, 50], [90, 0, 130, 50]],
                      [0.9, 0.5, 0.3, 0.6])
    kept = drop_contained(dets)
    # the part inside the face goes; a face beside it and one overlapping its edge stay
    assert kept.boxes.tolist() == [[0, 0, 100, 120], [200, 0, 240, 50], [90, 0, 130, 50]]
    # a surer box inside a weaker larger one is not a part of it: both stay
    assert len(drop_contained(Detections([[0, 0, 100, 120], [10, 60, 50, 115]], [0.3, 0.9]))) == 2


def test_count_kind_counts_sure_tracks_and_boxes():
    from blindspot.detections import count_kind
    photo = [Detections([[0, 0, 10, 10], [20, 0, 30, 10]], [0.9, 0.1])]
    assert count_kind(photo, "face") == (1, 1)
    ids = np.array([0, 1])
    video = [Detections([[0, 0, 10, 10], [20, 0, 30, 10]], [0.3, 0.1], ids),
             Detections([[0, 0, 10, 10], [20, 0, 30, 10]], [0.8, 0.2], ids)]
    assert count_kind(video, "face") == (1, 1)  # track 0 reaches 0.8 once: a face
    people = [Detections([[0, 0, 10, 30], [20, 0, 30, 30]], [0.45, 0.6]).with_kind("person")]
    assert count_kind(people, "person") == (1, 1)  # a person from 0.5, not 0.4
    assert count_kind(people, "face") == (0, 0)
    plates = [Detections([[0, 0, 30, 10]], [0.1]).with_kind("plate")]
    assert count_kind(plates, "plate") == (1, 0)  # every plate counts


def test_summary_line_names_uncertain_boxes(tmp_path):
    from blindspot.run.pipeline import FileResult
    line = FileResult(tmp_path / "a.jpg", tmp_path / "a.anon.jpg", faces=1, uncertain=2).summary()
    assert "1 face covered (+2 uncertain, covered too)" in line
    assert "uncertain" not in FileResult(tmp_path / "a.jpg", None, faces=3).summary()


def test_video_light_pass_looks_closely_where_faces_were_and_where_the_picture_changed(
        astronaut):
    """Between thorough frames the light pass sees the frame at half size (a 20 px face is
    then too small for it), and the regions around last run's small faces and where the
    picture changed as they are: there it finds the small face again."""
    detector = FaceDetector(Options().video_detector_settings())
    face = astronaut[20:200, 160:300]
    small = cv2.resize(face, (face.shape[1] // 9, face.shape[0] // 9),
                       interpolation=cv2.INTER_AREA)  # 15×20 px
    empty = np.full((720, 1280, 3), 120, np.uint8)
    scene = empty.copy()
    scene[400:400 + small.shape[0], 700:700 + small.shape[1]] = small
    target = [700, 400, 700 + small.shape[1], 400 + small.shape[0]]

    def found(dets: Detections) -> bool:
        return bool(len(dets)) and iou_matrix(dets.boxes, [target]).max() > 0.3

    was_there = Detections(np.array([target], np.float32), np.array([0.9], np.float32))
    assert found(detector.detect(scene))  # no previous run: the whole frame as is
    assert found(detector.detect(scene, near=was_there, before=scene))
    assert found(detector.detect(scene, near=Detections(), before=empty))  # it came in
    # Nothing there last time and nothing changed: left to the next thorough frame.
    assert not found(detector.detect(scene, near=Detections(), before=scene))


def test_changed_regions_hold_what_moved_and_nothing_else():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    assert len(detect_module._changed(before, before.copy())) == 0
    after = before.copy()
    after[100:130, 200:220] = 255 - after[100:130, 200:220]
    [region] = detect_module._changed(after, before)
    x0, y0, x1, y1 = region
    assert x0 <= 200 and y0 <= 100 and x1 >= 220 and y1 >= 130
    assert (x1 - x0) * (y1 - y0) < 0.05 * 640 * 360


def _nms_groups_one_by_one(dets: Detections, threshold: float) -> list[np.ndarray]:
    """The plain definition `nms_groups` must equal: the best box left and every box left
    that overlaps it by `threshold` make a group, until none is left."""
    order = np.argsort(-dets.scores, kind="stable")
    boxes, alive, groups = dets.boxes[order], np.arange(len(order)), []
    while len(alive):
        member = iou_matrix(boxes[alive[0]], boxes[alive])[0] >= threshold
        member[0] = True
        groups.append(order[alive[member]])
        alive = alive[~member]
    return groups


def test_nms_groups_are_those_of_the_one_by_one_definition():
    """Both ways of grouping: boxes apart (a crowd) and boxes piled on each other."""
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(0, 400))
        xy = rng.uniform(-20, 600, (n, 2))
        wh = rng.uniform(0, 80, (n, 2))
        if trial % 3 == 0:  # shared edges and equal boxes
            xy, wh = np.round(xy / 8) * 8, np.round(wh / 8) * 8
        if trial % 5 == 0:  # some inverted boxes
            wh[rng.random(n) < 0.1] *= -1
        if trial % 4 == 0:  # piled up, as one face's heatmap points are (1,200 of them)
            n = 1200
            xy, wh = rng.uniform(100, 110, (n, 2)), rng.uniform(0, 80, (n, 2))
        dets = Detections(np.concatenate([xy, xy + wh], 1).astype(np.float32),
                          np.round(rng.random(n), 1).astype(np.float32))
        threshold = float(rng.choice([0.0, 0.1, 0.3, 0.4, 0.5, 1.0]))
        got, want = nms_groups(dets, threshold), _nms_groups_one_by_one(dets, threshold)
        assert len(got) == len(want)
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
