"""Redaction covers the whole face box and its margin, and nothing far from it."""

from __future__ import annotations

import numpy as np
import pytest

from blindspot.detections import KINDS, Detections
from blindspot.redact import MOSAIC_BLOCKS, _union_mask, cover_mask, coverage_mask, redact


def _noise(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("box", [(50, 40, 110, 120), (-20, -30, 40, 50), (260, 150, 330, 230),
                                 (10.3, 20.7, 11.1, 21.2)])
@pytest.mark.parametrize("scale", [1.0, 1.3, 2.0])
def test_mask_covers_the_whole_box_clipped_to_the_image(box, scale):
    covered = coverage_mask(Detections([box], [0.9]), scale, 300, 200)
    x1, y1, x2, y2 = box
    xs = slice(max(0, int(np.floor(x1))), min(300, int(np.ceil(x2))))
    ys = slice(max(0, int(np.floor(y1))), min(200, int(np.ceil(y2))))
    assert covered[ys, xs].all()


def test_mask_is_an_ellipse_with_margin():
    box = np.array([100, 50, 160, 130], np.float32)  # 60×80, centre (130, 90)
    (x0, y0, xe, ye), mask = cover_mask(box, 1.5, 300, 200)
    assert (x0, y0, xe, ye) == (85, 30, 175, 150)
    full = np.zeros((200, 300), bool)
    full[y0:ye, x0:xe] = mask
    assert full[90, 86] and full[31, 130]  # margin beyond the box, on the axes
    assert not full[31, 86]  # but not the corner of the bounding rectangle


@pytest.mark.parametrize("mode", ["solid", "mosaic", "blur"])
def test_each_mode_changes_the_face_and_nothing_far_away(mode):
    image = _noise()
    before = image.copy()
    dets = Detections([[100, 50, 160, 130]], [0.9])
    redact(image, dets, mode, 1.3, seed=1)
    face = (slice(60, 120), slice(110, 150))
    changed = np.abs(image[face].astype(int) - before[face].astype(int)).mean()
    assert changed > 40  # random noise replaced by something else
    outside = ~coverage_mask(dets, 1.3, 300, 200)
    assert np.array_equal(image[outside], before[outside])


def test_solid_is_black():
    image = _noise()
    redact(image, Detections([[100, 50, 160, 130]], [0.9]), "solid", 1.3)
    assert (image[60:120, 110:150] == 0).all()


def test_mosaic_has_at_most_about_six_blocks_across_the_face():
    image = _noise(400, 400)
    box = [100, 100, 220, 220]  # 120 px wide
    redact(image, Detections([box], [0.9]), "mosaic", 1.3)
    row = image[160, 100:220, 0]
    runs = 1 + np.count_nonzero(np.diff(row.astype(int)))
    assert runs <= MOSAIC_BLOCKS + 2


def test_blur_leaves_no_fine_detail():
    image = _noise(400, 400)
    redact(image, Detections([[100, 100, 220, 220]], [0.9]), "blur", 1.3, seed=2)
    face = image[130:190, 130:190].astype(float)
    # Noise of the original has std ~74; what is left is low-pass plus fresh noise (σ 12).
    assert face.std() < 25


def test_no_detections_changes_nothing():
    image = _noise()
    before = image.copy()
    redact(image, Detections.empty(), "solid", 1.3)
    assert np.array_equal(image, before)


def test_solid_covers_exactly_the_union_of_the_masks():
    """The solid fill works on the rectangle around the masks only: boxes partly or wholly
    outside the picture, overlapping or far apart, each covers what its own mask says."""
    rng = np.random.default_rng(3)
    boxes = [[-80, -60, -10, -5], [280, 190, 400, 260], [-15, 150, 30, 230], [100, 50, 160, 130],
             [120, 60, 150, 100], [10.3, 20.7, 11.1, 21.2]]
    boxes += [[x, y, x + s, y + s] for x, y, s in zip(rng.uniform(0, 300, 6),
                                                        rng.uniform(0, 200, 6),
                                                        rng.uniform(2, 60, 6), strict=True)]
    for count in range(len(boxes) + 1):
        dets = Detections(np.reshape(boxes[:count], (-1, 4)), [0.9] * count)
        expected = np.zeros((200, 300), bool)
        for box in dets.boxes:
            (x0, y0, xe, ye), mask = cover_mask(box, 1.6, 300, 200)
            expected[y0:ye, x0:xe] |= mask
        assert np.array_equal(coverage_mask(dets, 1.6, 300, 200), expected)
        image = _noise()
        before = image.copy()
        redact(image, dets, "solid", 1.6)
        assert (image[expected] == 0).all()
        assert np.array_equal(image[~expected], before[~expected])


def _union_mask_box_by_box(detections, mask_scale, width, height):
    """`_union_mask` as it was: one `cover_mask` per box, or'ed into their bounding rectangle."""
    regions = [cover_mask(box, mask_scale, width, height, kind)
               for box, kind in zip(detections.boxes, detections.kinds.tolist(), strict=True)]
    regions = [(r, m) for r, m in regions if m.size]
    if not regions:
        return (0, 0), np.zeros((0, 0), bool)
    x0 = min(r[0] for r, _ in regions)
    y0 = min(r[1] for r, _ in regions)
    union = np.zeros((max(r[3] for r, _ in regions) - y0, max(r[2] for r, _ in regions) - x0),
                     bool)
    for (rx, ry, rxe, rye), mask in regions:
        union[ry - y0:rye - y0, rx - x0:rxe - x0] |= mask
    return (x0, y0), union


def _random_boxes(rng, count, width, height, grid):
    """`count` boxes 1–300 px (a few empty or inside out), anywhere from well outside the
    picture to inside it; `grid`: corners on whole or half pixels, where the ellipse's border
    runs through pixel centres exactly."""
    size = np.exp(rng.uniform(0, np.log(300), (count, 2)))
    x = rng.uniform(-0.4 * width - 300, 1.4 * width, count)
    y = rng.uniform(-0.4 * height - 300, 1.4 * height, count)
    boxes = np.stack([x, y, x + size[:, 0], y + size[:, 1]], axis=1)
    if grid:
        boxes = np.round(boxes * 2) / 2
    odd = rng.random(count) < 0.05
    boxes[odd, 2:] = boxes[odd, :2] - rng.uniform(0, 3, (odd.sum(), 2)) * rng.integers(0, 2)
    return boxes


@pytest.mark.parametrize("scale", [1.0, 1.6, 0.7, 1.3, 2.0])
def test_union_mask_is_the_union_of_each_boxs_cover_mask(scale, monkeypatch):
    """All boxes at once give exactly the masks of `cover_mask`, pixel for pixel, corner too
    (however few: the one-by-one way for few boxes is turned off here)."""
    monkeypatch.setattr("blindspot.redact.UNION_ONE_BY_ONE", 0)
    rng = np.random.default_rng(int(scale * 10))
    for trial in range(60):
        width, height = rng.integers(1, 700), rng.integers(1, 400)
        count = int(rng.choice([0, 1, 2, 5, 30, 200]))
        boxes = _random_boxes(rng, count, width, height, grid=trial % 3 == 0)
        kinds = rng.choice(len(KINDS), count, p=[0.7, 0.1, 0.1, 0.1]) if trial % 2 else None
        dets = Detections(boxes, np.full(count, 0.9), kinds=kinds)
        (x0, y0), union = _union_mask(dets, scale, int(width), int(height))
        (ex0, ey0), expected = _union_mask_box_by_box(dets, scale, int(width), int(height))
        assert (x0, y0) == (ex0, ey0)
        assert union.dtype == bool
        assert np.array_equal(union, expected)


def test_union_mask_of_a_crowd():
    """Thousands of small overlapping faces in a 640×360 frame, as in a crowd video."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-20, 650, 2000), rng.uniform(-20, 370, 2000)
    size = rng.uniform(1, 40, 2000)
    dets = Detections(np.stack([x, y, x + size, y + size * 1.2], axis=1), np.full(2000, 0.9))
    for scale in (1.0, 1.6):
        corner, union = _union_mask(dets, scale, 640, 360)
        expected_corner, expected = _union_mask_box_by_box(dets, scale, 640, 360)
        assert corner == expected_corner
        assert np.array_equal(union, expected)


@pytest.mark.parametrize("scale", [1.0, 1.6, 2.0])
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_union_mask_is_exact_where_the_ellipse_runs_through_pixel_centres(scale, offset):
    """Whole and half pixel boxes 1–40 px: their ellipses pass through pixel centres (3-4-5
    and the like), where a float rounding decides whether a pixel is in; each box in its own
    90 px cell, so that a pixel one box gets wrong is not covered by another."""
    sizes = np.arange(1, 41)
    w, h = (a.ravel() for a in np.meshgrid(sizes, sizes))
    x = np.arange(len(w)) % 40 * 90 + 20 + offset
    y = np.arange(len(w)) // 40 * 90 + 20 + offset
    dets = Detections(np.stack([x, y, x + w, y + h], axis=1), np.full(len(w), 0.9))
    corner, union = _union_mask(dets, scale, 3600, 3600)
    expected_corner, expected = _union_mask_box_by_box(dets, scale, 3600, 3600)
    assert corner == expected_corner
    assert np.array_equal(union, expected)
