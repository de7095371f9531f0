"""Redaction: cover every detected box, irreversibly, inside a mask shaped by its kind.

One verb per redactor: `redact(image, detections, mode, mask_scale)` changes `image` in place.
The mask of a face is the union of its box and an ellipse `mask_scale` times the box, clipped
to the image, so the box is always covered whole and hairline, ears and chin too. Other
text gets a rectangle padded by `TEXT_PAD` of the box's height on each side, plates by
`PLATE_PAD_X` left and right and `PLATE_PAD_Y` above and below (a text detector's box hugs the
letters: the plate's frame and a line of smaller print stay readable without it); a person gets
the box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .detections import FACE, PERSON, PLATE, TEXT, Detections
from .wording import count

SOLID_COLOUR = (0, 0, 0)
MOSAIC_BLOCKS = 6  # at most this many blocks across a face
# Text and plate boxes are padded by this share of their height on each side (measured on
# plates: a quarter took them from 55 % to 97 % covered).
TEXT_PAD = 0.25


# A plate is covered whole, characters and frame. Its frame reaches further beside its letters
# than above and below them: half the letters' height on an EU plate (520 × 110 mm, letters
# 75 mm high over about 440 mm); above and below, a US plate (6 × 12 in, letters about 2.75 in)
# holds its state's name and a slogan, an older Brazilian one its town's name: about half the
# letters' height again. Glare or a bent plate can leave the detector part of the line only,
# hence more room to the sides. Chosen on the tune half of `bench/text.py`: plates hidden whole
# (98 % of the box) 39 of 54 with 0.5 and 0.25, 52 with these.
PLATE_PAD_X = 0.7
PLATE_PAD_Y = 0.5
# People: what a person detector's box leaves out of a person (an arm, a bag).
PERSON_PAD_X = 0.0
PERSON_PAD_Y = 0.0
# Each kind's box is grown by these shares of its height, left and right, above and below
# (faces get their ellipse instead, `mask_scale`).
PADS = {FACE: (0.0, 0.0), PLATE: (PLATE_PAD_X, PLATE_PAD_Y), TEXT: (TEXT_PAD, TEXT_PAD),
        PERSON: (PERSON_PAD_X, PERSON_PAD_Y)}


def padded(box: np.ndarray, kind: int = FACE) -> np.ndarray:
    """The box a mask is built around: grown by its kind's `PADS` (shares of its height)."""
    box = np.asarray(box, np.float64)
    share_x, share_y = PADS[kind]
    height = box[3] - box[1]
    pad_x, pad_y = share_x * height, share_y * height
    return box + np.array([-pad_x, -pad_y, pad_x, pad_y])


def mask_region(box: np.ndarray, mask_scale: float, width: int, height: int,
                kind: int = FACE) -> tuple[int, int, int, int]:
    """The pixel rectangle `x0, y0, x1, y1` (exclusive) the mask of `box` may touch."""
    box = padded(box, kind)
    if kind != FACE:
        mask_scale = 1.0
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx = max((x2 - x1) * mask_scale / 2, (x2 - x1) / 2)
    ry = max((y2 - y1) * mask_scale / 2, (y2 - y1) / 2)
    x0 = max(0, math.floor(min(cx - rx, x1)))
    y0 = max(0, math.floor(min(cy - ry, y1)))
    xe = min(width, math.ceil(max(cx + rx, x2)))
    ye = min(height, math.ceil(max(cy + ry, y2)))
    # A box wholly left of or above the picture (a track extrapolated off-frame) has an empty
    # region, not a negative end that would slice from the other side.
    return x0, y0, max(x0, xe), max(y0, ye)


def cover_mask(box: np.ndarray, mask_scale: float, width: int, height: int, kind: int = FACE
              ) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The region of `mask_region` and a boolean mask over it: for a face the ellipse or the
    box, for other kinds the (padded) box."""
    x0, y0, xe, ye = mask_region(box, mask_scale, width, height, kind)
    x1, y1, x2, y2 = (float(v) for v in padded(box, kind))
    ys = np.arange(y0, ye, dtype=np.float64)[:, None]
    xs = np.arange(x0, xe, dtype=np.float64)[None, :]
    if kind != FACE:
        return (x0, y0, xe, ye), np.ones((ye - y0, xe - x0), bool)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx = max((x2 - x1) * mask_scale / 2, 0.5)
    ry = max((y2 - y1) * mask_scale / 2, 0.5)
    mask = ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0
    # Every pixel that the box touches, even partly: pixel x when x + 1 > x1 and x < x2, that
    # is floor(x1) <= x < ceil(x2).
    bx0, by0 = max(x0, math.floor(x1)), max(y0, math.floor(y1))
    bxe, bye = min(xe, math.ceil(x2)), min(ye, math.ceil(y2))
    if bxe > bx0 and bye > by0:
        mask[by0 - y0:bye - y0, bx0 - x0:bxe - x0] = True
    return (x0, y0, xe, ye), mask


def coverage_mask(detections: Detections, mask_scale: float, width: int, height: int
                  ) -> np.ndarray:
    """A boolean image of every pixel that `redact` would cover."""
    covered = np.zeros((height, width), bool)
    (x0, y0), union = _union_mask(detections, mask_scale, width, height)
    covered[y0:y0 + union.shape[0], x0:x0 + union.shape[1]] = union
    return covered


def _union_mask(detections: Detections, mask_scale: float, width: int, height: int
                ) -> tuple[tuple[int, int], np.ndarray]:
    """The top-left corner `(x0, y0)` of the smallest rectangle holding every mask of
    `detections`, and the union of the masks over that rectangle.

    A few boxes: each one's `cover_mask` (the definition) in turn. Many (a crowd frame has
    thousands): the same masks all at once, every mask a set of rectangles (a kind's padded
    box, a face's box, a face's ellipse row by row) painted together with a difference array
    over the rectangle (which costs more than a few boxes do one by one)."""
    boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all():  # fail closed: a box that cannot be drawn aborts the file
        raise ValueError("a box to cover is not finite")
    if len(boxes) <= UNION_ONE_BY_ONE:
        regions = [cover_mask(box, mask_scale, width, height, kind) for box, kind
                   in zip(detections.boxes, detections.kinds.tolist(), strict=True)]
        regions = [(r, m) for r, m in regions if m.size]
        if not regions:
            return (0, 0), np.zeros((0, 0), bool)
        x0, y0 = min(r[0] for r, _ in regions), min(r[1] for r, _ in regions)
        union = np.zeros((max(r[3] for r, _ in regions) - y0,
                          max(r[2] for r, _ in regions) - x0), bool)
        for (rx, ry, rxe, rye), mask in regions:
            union[ry - y0:rye - y0, rx - x0:rxe - x0] |= mask
        return (x0, y0), union
    kinds = np.asarray(detections.kinds).reshape(-1)
    # `padded` and `mask_region`, box by box in the same float operations.
    shares = np.zeros((len(boxes), 2))
    for kind in np.unique(kinds).tolist():
        shares[kinds == kind] = PADS[kind]
    box_h = boxes[:, 3] - boxes[:, 1]
    pad_x, pad_y = shares[:, 0] * box_h, shares[:, 1] * box_h
    boxes = boxes + np.stack([-pad_x, -pad_y, pad_x, pad_y], axis=1)
    x1, y1, x2, y2 = boxes.T
    face = kinds == FACE
    scale = np.where(face, float(mask_scale), 1.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx = np.maximum((x2 - x1) * scale / 2, (x2 - x1) / 2)
    ry = np.maximum((y2 - y1) * scale / 2, (y2 - y1) / 2)
    x0 = np.maximum(0, np.floor(np.minimum(cx - rx, x1))).astype(np.int64)
    y0 = np.maximum(0, np.floor(np.minimum(cy - ry, y1))).astype(np.int64)
    xe = np.maximum(x0, np.minimum(width, np.ceil(np.maximum(cx + rx, x2))).astype(np.int64))
    ye = np.maximum(y0, np.minimum(height, np.ceil(np.maximum(cy + ry, y2))).astype(np.int64))
    keep = (xe > x0) & (ye > y0)
    if not keep.any():
        return (0, 0), np.zeros((0, 0), bool)
    x0, y0, xe, ye = x0[keep], y0[keep], xe[keep], ye[keep]
    x1, y1, x2, y2, cx, cy, face = x1[keep], y1[keep], x2[keep], y2[keep], cx[keep], \
        cy[keep], face[keep]
    ux0, uy0 = int(x0.min()), int(y0.min())
    union_w, union_h = int(xe.max()) - ux0, int(ye.max()) - uy0
    stride = union_w + 1
    size = (union_h + 1) * stride
    # Rectangles `x0, y0, xe, ye` (exclusive): every other kind's region whole, every face's
    # box (each pixel it touches, clipped to the region). Difference array: +1 at each one's
    # top-left and bottom-right corner, -1 at the other two; its running sum downwards gives
    # each row's +1 where a rectangle starts and -1 where it ends.
    rects = np.concatenate([
        np.stack([x0[~face], y0[~face], xe[~face], ye[~face]], axis=1),
        np.stack([np.maximum(x0[face], np.floor(x1[face]).astype(np.int64)),
                  np.maximum(y0[face], np.floor(y1[face]).astype(np.int64)),
                  np.minimum(xe[face], np.ceil(x2[face]).astype(np.int64)),
                  np.minimum(ye[face], np.ceil(y2[face]).astype(np.int64))], axis=1)])
    rects = rects[(rects[:, 2] > rects[:, 0]) & (rects[:, 3] > rects[:, 1])]
    rects -= np.array([ux0, uy0, ux0, uy0])
    ax0, ay0, axe, aye = rects.T
    counts = (np.bincount(np.concatenate([ay0 * stride + ax0, aye * stride + axe]),
                          minlength=size)
              - np.bincount(np.concatenate([ay0 * stride + axe, aye * stride + ax0]),
                            minlength=size)).astype(np.int32).reshape(union_h + 1, stride)
    np.cumsum(counts, axis=0, out=counts)
    # Every face's ellipse, row by row: +1 where its run starts in the row, -1 after it ends;
    # then the running sum across counts the masks over each pixel.
    rows, first, end = _ellipse_rows(x1[face], y1[face], x2[face], y2[face], x0[face],
                                     y0[face], xe[face], ye[face], float(mask_scale))
    rows = (rows - uy0) * stride - ux0
    counts += (np.bincount(rows + first, minlength=size)
               - np.bincount(rows + end, minlength=size)).astype(np.int32).reshape(counts.shape)
    np.cumsum(counts, axis=1, out=counts)
    return (ux0, uy0), counts[:union_h, :union_w] > 0


# Up to this many boxes `_union_mask` draws them one by one.
UNION_ONE_BY_ONE = 48


def _ellipse_rows(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray,
                  x0: np.ndarray, y0: np.ndarray, xe: np.ndarray, ye: np.ndarray,
                  mask_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ellipses of `cover_mask` for face boxes `x1, y1, x2, y2` with regions `x0, y0, xe,
    ye`, as runs `first <= x < end` in rows `rows` (only rows with a pixel in): pixel x of row
    y is in when `((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1`, evaluated in
    the very float operations of `cover_mask`, so that no pixel on the border rounds the
    other way.

    Along a row that left side only falls, then rises (each step of it rounds monotonically),
    so the pixels in are one run: a run solved for is right when its ends are in and the pixel
    beyond either end is out. The few rows where rounding put an end one pixel off are walked
    to the right ends (`_walk_ends`)."""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx = np.maximum((x2 - x1) * mask_scale / 2, 0.5)
    ry = np.maximum((y2 - y1) * mask_scale / 2, 0.5)
    heights = ye - y0
    box = np.repeat(np.arange(len(heights)), heights)
    rows = np.arange(len(box)) + np.repeat(y0 - (np.cumsum(heights) - heights), heights)
    cx, rx, lo, hi = cx[box], rx[box], x0[box], xe[box]
    dy = ((rows + 0.5 - cy[box]) / ry[box]) ** 2

    def inside(xs: np.ndarray) -> np.ndarray:
        return ((xs + 0.5 - cx) / rx) ** 2 + dy <= 1.0

    half = rx * np.sqrt(np.maximum(0.0, 1.0 - dy))
    first = np.ceil(cx - 0.5 - half)
    last = np.floor(cx - 0.5 + half)
    # Right when the pixels just outside are out and, for a run, its ends are in; for no run
    # (last = first - 1), when those two pixels are the ones either side of the centre.
    right = ~inside(first - 1) & ~inside(last + 1)
    run = first <= last
    right &= np.where(run, inside(first) & inside(last),
                      (last + 0.5 - cx <= 0) & (first + 0.5 - cx >= 0) & (last + 1 == first))
    wrong = np.flatnonzero(~right)
    if len(wrong):
        first[wrong], last[wrong] = _walk_ends(cx[wrong], rx[wrong], dy[wrong],
                                                first[wrong], last[wrong])
    # Clipped to the region.
    first = np.maximum(first.astype(np.int64), lo)
    end = np.minimum(last.astype(np.int64) + 1, hi)
    some = end > first
    return rows[some], first[some], end[some]


def _walk_ends(cx: np.ndarray, rx: np.ndarray, dy: np.ndarray, first: np.ndarray,
               last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The right `first, last` of the run of `_ellipse_rows` in rows whose solved ends `first,
    last` were off (by a pixel or so). From the pixel nearest the centre, in if any is, each
    end moves towards it while it is out, then away while the next pixel is in. Rows without
    a pixel in get `first > last`."""
    def inside(xs: np.ndarray, which: np.ndarray) -> np.ndarray:
        return ((xs + 0.5 - cx[which]) / rx[which]) ** 2 + dy[which] <= 1.0

    every = np.arange(len(cx))
    left = np.floor(cx - 0.5)  # the pixel with x + 0.5 <= cx < x + 1.5
    left -= (left + 0.5 - cx) > 0
    left += (left + 1.5 - cx) <= 0
    left_in = inside(left, every)
    some = left_in | inside(left + 1, every)
    centre = np.where(left_in, left, left + 1)
    first, last = np.minimum(first, centre), np.maximum(last, centre)
    for end, step in ((first, -1.0), (last, 1.0)):
        todo = np.flatnonzero(some)
        while len(todo):
            todo = todo[~inside(end[todo], todo)]
            end[todo] -= step
        todo = np.flatnonzero(some)
        while len(todo):
            todo = todo[inside(end[todo] + step, todo)]
            end[todo] += step
    last[~some] = first[~some] - 1
    return first, last


def _mosaic(region: np.ndarray, box_w: float, rng: np.random.Generator) -> np.ndarray:
    block = max(2, math.ceil(box_w / MOSAIC_BLOCKS))
    h, w = region.shape[:2]
    small = cv2.resize(region, (max(1, math.ceil(w / block)), max(1, math.ceil(h / block))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).reshape(region.shape)


def _blur(region: np.ndarray, box_w: float, rng: np.random.Generator) -> np.ndarray:
    # Shrink hard first (no detail smaller than a quarter of the face survives), then a
    # Gaussian proportional to the face, then noise so the blur cannot be inverted exactly.
    h, w = region.shape[:2]
    factor = max(1.0, box_w / 8)
    small = cv2.resize(region, (max(1, round(w / factor)), max(1, round(h / factor))),
                       interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(region.shape)
    sigma = max(1.0, box_w / 6)
    smooth = cv2.GaussianBlur(smooth, (0, 0), sigma).reshape(region.shape)
    noise = rng.normal(0, 12, size=(h, w, 1))
    return np.clip(smooth.astype(np.float32) + noise, 0, 255).astype(region.dtype)


# Per-face redactors; "solid" faces are not covered one by one but all at once (see `redact`).
REDACTORS = {"mosaic": _mosaic, "blur": _blur}


def redact(image: np.ndarray, detections: Detections, mode: str = "solid",
           mask_scale: float = 1.6, seed: int | None = None,
           modes: Sequence[str] | None = None) -> np.ndarray:
    """Cover every face of `detections` in `image` (H×W×C uint8, changed in place).

    `modes`, one per box, overrides `mode` face by face (the review page's choice). Mosaic and
    blur faces are covered one by one; then all solid faces at once (in a video with many
    tracks, boxes overlap a lot: one fill of their union is much cheaper), so where a solid
    face overlaps another, solid wins."""
    if modes is not None and len(modes) != len(detections):
        raise ValueError(f"{count(len(modes), 'mode')} given for "
                         f"{count(len(detections), 'box', 'boxes')}")
    names = [mode] * len(detections) if modes is None else list(modes)
    unknown = sorted(set(names) - {"solid", *REDACTORS})
    if unknown:
        raise KeyError(unknown[0])
    solid = np.array([name == "solid" for name in names], bool)
    height, width = image.shape[:2]
    rng = np.random.default_rng(seed)
    for box, kind, name in zip(detections.boxes, detections.kinds.tolist(), names, strict=True):
        if name == "solid":
            continue
        redactor = REDACTORS[name]
        (x0, y0, xe, ye), mask = cover_mask(box, mask_scale, width, height, kind)
        if not mask.any():
            continue
        region = image[y0:ye, x0:xe]
        box_w = float(max(box[2] - box[0], box[3] - box[1]))
        cover = redactor(np.ascontiguousarray(region), box_w, rng)
        region[mask] = cover[mask]
    if solid.any():
        (x0, y0), covered = _union_mask(detections.select(solid), mask_scale, width, height)
        region = image[y0:y0 + covered.shape[0], x0:x0 + covered.shape[1]]
        for channel, value in enumerate(SOLID_COLOUR[: image.shape[2]]):
            np.putmask(region[..., channel], covered, value)
    return image
