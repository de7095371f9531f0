"""Geometry, property-tested (hypothesis): whatever the box, the picture's size and
orientation, the scale or the margin, every pixel of a face box inside the picture is covered,
and tiling and merging never lose a box.
"""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from blindspot.detect.tiles import tile_grid
from blindspot.detections import Detections, iou_matrix, nms
from blindspot.media.photo_source import _orient
from blindspot.redact import coverage_mask, redact

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def picture_and_box(draw: st.DrawFn, max_side: int = 160) -> tuple[int, int, list[float]]:
    """A picture size and a face box anywhere: inside, across an edge, or mostly outside,
    from a fraction of a pixel to larger than the picture."""
    width, height = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    x1 = draw(st.floats(-1.5 * width, 1.5 * width, allow_nan=False))
    y1 = draw(st.floats(-1.5 * height, 1.5 * height, allow_nan=False))
    bw = draw(st.floats(0.05, 2.5 * width, allow_nan=False))
    bh = draw(st.floats(0.05, 2.5 * height, allow_nan=False))
    return width, height, [x1, y1, x1 + bw, y1 + bh]


def touched(box: list[float], width: int, height: int) -> np.ndarray:
    """Every pixel of the picture that the box touches, even partly (pixel x spans [x, x+1))."""
    x1, y1, x2, y2 = box
    xs, ys = np.arange(width)[None, :], np.arange(height)[:, None]
    return (xs + 1 > x1) & (xs < x2) & (ys + 1 > y1) & (ys < y2)


@FAST
@given(picture_and_box(), st.floats(1.0, 4.0))
def test_mask_covers_the_whole_box_clipped_to_the_picture(case, mask_scale: float) -> None:
    width, height, box = case
    dets = Detections([box], [0.9])
    covered = coverage_mask(dets, mask_scale, width, height)
    assert covered.shape == (height, width)
    assert covered[touched(dets.boxes[0].tolist(), width, height)].all()  # (boxes: float32)


@FAST
@given(picture_and_box(), st.floats(1.0, 4.0), st.floats(1.0, 4.0))
def test_a_larger_margin_never_covers_less(case, scale_a: float, scale_b: float) -> None:
    width, height, box = case
    small, large = sorted((scale_a, scale_b))
    dets = Detections([box], [0.9])
    assert (coverage_mask(dets, large, width, height)
            >= coverage_mask(dets, small, width, height)).all()


@FAST
@given(st.lists(picture_and_box(max_side=96), min_size=1, max_size=4),
       st.sampled_from(["solid", "mosaic", "blur"]), st.floats(1.0, 4.0))
def test_redact_changes_the_mask_only_and_solid_blackens_all_of_it(cases, mode: str,
                                                                    mask_scale: float) -> None:
    width, height, _ = cases[0]
    boxes = [box for _, _, box in cases]
    dets = Detections(boxes, [0.9] * len(boxes))
    rng = np.random.default_rng(0)
    picture = rng.integers(1, 255, (height, width, 3), dtype=np.uint8)
    out = redact(picture.copy(), dets, mode, mask_scale, seed=1)
    covered = coverage_mask(dets, mask_scale, width, height)
    assert (out[~covered] == picture[~covered]).all()  # nothing outside the masks changes
    if mode == "solid":
        assert (out[covered] == 0).all()
        for box in dets.boxes.tolist():
            assert (out[touched(box, width, height)] == 0).all()


@st.composite
def stored_picture(draw: st.DrawFn) -> np.ndarray:
    width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


@FAST
@given(stored_picture(), st.integers(1, 8))
def test_orientation_matches_pillows_exif_transpose(stored: np.ndarray, orientation: int) -> None:
    """blindspot turns the stored pixels upright exactly as Pillow reads the EXIF tag, so the
    boxes found in the upright picture are the ones covered in it."""
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif.tobytes())
    with Image.open(buffer) as reread:
        upright = np.asarray(ImageOps.exif_transpose(reread).convert("RGB"))
    assert np.array_equal(_orient(stored, orientation), upright)


@FAST
@given(stored_picture(), st.integers(1, 8), st.data())
def test_a_face_is_covered_whatever_the_orientation(stored: np.ndarray, orientation: int,
                                                     data: st.DataObject) -> None:
    """A face marked in the stored pixels, found (its bounding box) in the upright picture,
    is covered there whole."""
    height, width = stored.shape[:2]
    x1, y1 = data.draw(st.integers(0, width - 1)), data.draw(st.integers(0, height - 1))
    x2, y2 = data.draw(st.integers(x1 + 1, width)), data.draw(st.integers(y1 + 1, height))
    face = np.zeros((height, width), bool)
    face[y1:y2, x1:x2] = True
    upright = _orient(face, orientation)
    ys, xs = np.nonzero(upright)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    covered = coverage_mask(Detections([box], [0.9]), 1.0, upright.shape[1], upright.shape[0])
    assert covered[upright].all()


@FAST
@given(picture_and_box(max_side=4000), st.floats(0.05, 8.0))
def test_boxes_survive_a_scale_round_trip(case, factor: float) -> None:
    """A box found in a picture resized by `factor` and scaled back (what the downscaled and
    tiled passes do) lands where it was, to a hundredth of a pixel, and is covered there."""
    width, height, box = case
    seen = Detections([box], [0.5]).scaled(factor, factor)
    back = seen.scaled(1 / factor, 1 / factor)
    assert np.allclose(back.boxes[0], box, atol=1e-2 + 1e-6 * max(map(abs, box)))


@st.composite
def grid(draw: st.DrawFn) -> tuple[int, int, int, int]:
    size = draw(st.integers(32, 1200))
    overlap = draw(st.integers(0, min(size - 1, 200)))
    return draw(st.integers(1, 6000)), draw(st.integers(1, 6000)), size, overlap


@settings(max_examples=300, deadline=None)
@given(grid(), st.data())
def test_tiles_cover_the_picture_and_hold_every_small_face_whole(case, data) -> None:
    width, height, size, overlap = case
    tiles = tile_grid(width, height, size, overlap)
    for t in tiles:
        assert 0 <= t.x and 0 <= t.y and t.x + t.w <= width and t.y + t.h <= height
        assert 1 <= t.w <= size and 1 <= t.h <= size
    xs = sorted({(t.x, t.w) for t in tiles})
    ys = sorted({(t.y, t.h) for t in tiles})
    for spans, length in ((xs, width), (ys, height)):
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length
        for (a, wa), (b, _) in zip(spans, spans[1:], strict=False):
            assert a + wa - b >= overlap, "neighbours overlap less than promised"
    # A face no larger than the overlap lies whole inside at least one tile.
    side = data.draw(st.integers(1, max(1, min(overlap, width, height))))
    fx = data.draw(st.integers(0, width - min(side, width)))
    fy = data.draw(st.integers(0, height - min(side, height)))
    fw, fh = min(side, width), min(side, height)
    assert any(t.x <= fx and fx + fw <= t.x + t.w and t.y <= fy and fy + fh <= t.y + t.h
               for t in tiles)


@st.composite
def overlapping_boxes(draw: st.DrawFn, max_faces: int = 3, centre: tuple = (100, 500),
                      sides: tuple = (12, 120)) -> Detections:
    """Up to 12 boxes, many of them around a few faces (as several passes see them)."""
    faces = draw(st.lists(st.tuples(st.floats(*centre), st.floats(*centre), st.floats(*sides)),
                          min_size=1, max_size=max_faces))
    boxes, scores = [], []
    for _ in range(draw(st.integers(1, 12))):
        cx, cy, side = draw(st.sampled_from(faces))
        jitter = st.floats(-0.3, 0.3)
        dx, dy = draw(jitter) * side, draw(jitter) * side
        grow = draw(st.floats(0.7, 1.4))
        half = side * grow / 2
        boxes.append([cx + dx - half, cy + dy - half, cx + dx + half, cy + dy + half])
        scores.append(draw(st.floats(0.05, 1.0)))
    return Detections(boxes, scores)


@FAST
@given(overlapping_boxes(), st.floats(0.1, 0.9))
def test_union_merge_contains_every_box(dets: Detections, iou: float) -> None:
    merged = nms(dets, iou, "union")
    assert 1 <= len(merged) <= len(dets)
    for box in dets.boxes:
        assert any((m[:2] <= box[:2] + 1e-3).all() and (m[2:] >= box[2:] - 1e-3).all()
                   for m in merged.boxes)


@FAST
@given(overlapping_boxes(), st.floats(0.1, 0.9), st.sampled_from(["best", "mean"]))
def test_every_box_has_a_merged_box_over_it(dets: Detections, iou: float, merge: str) -> None:
    """No box vanishes in a merge: each overlaps a kept box by at least the NMS threshold
    ('best'), or is part of a score-weighted mean that overlaps it ('mean')."""
    merged = nms(dets, iou, merge)
    overlap = iou_matrix(dets.boxes, merged.boxes).max(axis=1)
    bound = iou - 1e-6 if merge == "best" else 0.0
    assert (overlap > bound).all()
    assert np.isfinite(merged.boxes).all()


@FAST
@given(overlapping_boxes(max_faces=1, centre=(40, 120), sides=(12, 60)))
def test_the_default_mask_of_a_mean_merge_covers_the_middle_of_each_box(dets: Detections
                                                                        ) -> None:
    """The detector merges the passes' boxes of one face into their score-weighted mean, grown
    to hold the middle half of every box merged, so the mask covers that middle (eyes, nose,
    mouth) of every box. Not always all of it: hypothesis found three 9 px boxes and one 12 px
    box seen lower (IoU 0.43) whose mean's mask leaves 11 % of the larger box, its lower
    corners, uncovered. It also found the plain mean leaving a middle uncovered: a 12 px box
    (score 1.0) and a 16.5 px box (0.125) shifted down-right, the mean hugging the first."""
    merged = nms(dets, 0.4, "mean")
    size = 200
    covered = coverage_mask(merged, 1.6, size, size)
    for x1, y1, x2, y2 in dets.boxes.tolist():
        qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
        assert covered[touched([x1 + qx, y1 + qy, x2 - qx, y2 - qy], size, size)].all()


def test_a_box_wholly_outside_the_picture_covers_nothing() -> None:
    """hypothesis found it: a box left of or above the picture (a track extrapolated
    off-frame) gave a negative region end, which sliced from the far side and made
    `coverage_mask` raise."""
    dets = Detections([[-2.0, 0.0, -1.0, 1.0], [0.0, -9.0, 5.0, -4.0]], [0.9, 0.9])
    assert not coverage_mask(dets, 1.0, 2, 1).any()
    assert not coverage_mask(dets, 1.6, 30, 20).any()
