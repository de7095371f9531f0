"""Face detection: the bundled CenterFace model on ONNX Runtime, run at several scales.

`FaceDetector.detect(rgb)` returns the `Detections` blindspot covers. It runs the model on the
whole image, on the image downscaled (large faces) and on upscaled overlapping tiles (small faces
in crowds are what a single pass misses), then merges everything with NMS. A weak box is kept only
when two passes agree on it or its pass is sure enough of it alone (see `DetectorSettings`); a
box cut by a tile's edge, or lying inside a surer face, is a part of a face and is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from ..detections import Detections, drop_contained, merge_group, nms, nms_groups
from .onnx import load_model
from .openvino_cpu import open_model
from .tiles import Tile, resize, tile_grid

R = TypeVar("R")
MODEL_NAME = "centerface"
MODEL_FILE = "centerface.onnx"
MODEL_SHA256 = "a55914d0f3472fa07baa66f09b4056301e5f771ffa6717faf2322707965fefc1"


@dataclass(frozen=True)
class DetectorSettings:
    """How hard to look. The defaults were chosen with `bench/detection.py` (see README).

    `threshold` is the lowest face score anything is kept at (the user's `--threshold`; lower
    finds more). With several passes, a box scoring at least `threshold` is kept when two passes
    found it, or when the one pass that found it scored it at least that pass's `*_alone` score
    (never below `threshold`). Textures (foliage, flowers, stars) make weak boxes in one pass
    only, mostly in the tiles; faces, even small ones, are mostly seen by two passes.
    """

    threshold: float = 0.05
    # Passes, as scale factors of the image: the whole image downscaled by `coarse_scale` (large
    # faces; 0 = none), the whole image as is, and overlapping tiles upscaled by `tile_scale`
    # (small faces; 0 = none). Both 0: a single pass over the image as is, nothing else.
    # Every pass sees the picture with square pixels, as it is displayed (a video whose pixels
    # are not square is resized to square ones before: `video.py`). The tiles were stretched
    # 1.4× in width until 2026-12, which found faces in copies squeezed to 416×416 and lost
    # faces at their true aspect; 2.4× unstretched tiles cost the same and find more on
    # real-aspect pictures (docs/detection.md).
    coarse_scale: float = 0.5
    tile_scale: float = 2.4
    # The score a box found by one pass only needs, per pass.
    coarse_alone: float = 0.1
    whole_alone: float = 0.2
    tile_alone: float = 0.15
    # Tile side in network pixels, and the overlap between tiles in image pixels.
    tile_size: int = 1024
    tile_overlap: int = 48
    # All passes together never feed the network more pixels than this: a large photo is
    # processed as if downscaled to fit, which keeps a 12 MP photo within about 2 s.
    max_pixels: int = 6_500_000
    nms_iou: float = 0.4
    # Video frames between thorough ones, when given the previous detection run's frame and
    # boxes (`detect(rgb, near=..., before=...)`): the whole frame downscaled by `focus_scale`
    # (faces large enough for it, newcomers of that size), plus, looked at as they are, the
    # regions around each face smaller than `focus_face` px found last time (`focus_margin` of
    # its side on every side) and the regions where the picture changed since (a small face
    # that moves, or comes in). When those regions cover more than `focus_share` of the frame
    # (a camera pan, a cut), the whole frame as is instead. 0 = off: the whole frame as is.
    # A small face that appears without moving between thorough frames is the thorough pass's:
    # its tracks are covered back to the previous thorough frame (`TrackSettings.for_fps`).
    focus_scale: float = 0.0
    focus_face: int = 48
    focus_margin: float = 1.0
    focus_share: float = 0.5
    # A box lying this much (share of its area) inside a larger, surer box is a part of that
    # face and is dropped (1: never).
    contained_share: float = 0.8
    # Where the model runs ("cpu", "cuda", or "auto": cuda when ONNX Runtime has its CUDA
    # provider) and its threads (0: one per core); neither changes what is found. On the CPU,
    # `precision` "auto" runs it in bfloat16 on OpenVINO where the processor computes that
    # natively (about twice as fast, recall bands unchanged: docs/speed.md), else in float32 on
    # ONNX Runtime; "f32" always in float32 (the same boxes on every machine).
    device: str = "cpu"
    threads: int = 0
    precision: str = "auto"


def _load_model_bytes() -> bytes:
    return load_model(MODEL_FILE, MODEL_SHA256)


class CenterFace:
    """The CenterFace model: in bfloat16 on OpenVINO where the CPU computes it (`precision`
    "auto"), else in float32 on ONNX Runtime (CPU or CUDA; see `open_model`); `run` detects in
    one RGB array (from any thread), `run_all` runs several calls of it at once where the model
    does (OpenVINO's streams)."""

    def __init__(self, intra_op_threads: int = 0, device: str = "cpu",
                 precision: str = "auto") -> None:
        self.precision, self.model = open_model(_load_model_bytes(), intra_op_threads, device,
                                                precision)
        self.streams = getattr(self.model, "streams", 1)
        # ONNX Runtime's session runs one call at a time here, as it always has (the video's
        # thorough and light runs call it from two threads).
        self._one_at_a_time = threading.Lock() if self.streams < 2 else contextlib.nullcontext()
        self._pool: ThreadPoolExecutor | None = None

    def run_all(self, jobs: Sequence[Callable[[], R]]) -> list[R]:
        """`[job() for job in jobs]`, in that order, run `streams` at a time on threads kept
        for the model's life (each job calls `run`): each picture's preparation and decoding
        overlap the others' inference."""
        if self.streams < 2 or len(jobs) < 2:
            return [job() for job in jobs]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="centerface")
        return list(self._pool.map(lambda job: job(), jobs))

    def run(self, rgb: np.ndarray, threshold: float) -> Detections:
        """Faces in `rgb` (H×W×3 uint8) whose score is at least `threshold`."""
        h, w = rgb.shape[:2]
        pad_h, pad_w = -h % 32, -w % 32
        if pad_h or pad_w:
            rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        with self._one_at_a_time:
            heatmap, scale, offset, _ = self._infer(blob)
        return _decode(heatmap[0, 0], scale[0], offset[0], threshold).clipped(w, h)

    def _infer(self, blob: np.ndarray) -> list[np.ndarray]:
        """The model's four outputs (heatmap, scale, offset, landmarks) for `blob`."""
        return self.model.run(None, {"input.1": blob})


def _decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray,
            threshold: float) -> Detections:
    ys, xs = np.nonzero(heatmap >= threshold)
    if len(ys) == 0:
        return Detections.empty()
    bh = np.exp(scale[0, ys, xs]) * 4
    bw = np.exp(scale[1, ys, xs]) * 4
    cy = (ys + offset[0, ys, xs] + 0.5) * 4
    cx = (xs + offset[1, ys, xs] + 0.5) * 4
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return nms(Detections(boxes, heatmap[ys, xs]), 0.3, "best")


class FaceDetector:
    """Multi-scale face detection with one model session."""

    def __init__(self, settings: DetectorSettings | None = None,
                 model: CenterFace | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.model = model or CenterFace(self.settings.threads, self.settings.device,
                                         self.settings.precision)

    def detect(self, rgb: np.ndarray, near: Detections | None = None,
               before: np.ndarray | None = None) -> Detections:
        """The faces in `rgb`. `near` and `before`: the faces the previous detection run of a
        video found, and its frame (used with `focus_scale`, see `DetectorSettings`)."""
        s = self.settings
        if s.focus_scale > 0 and near is not None and before is not None:
            merged = self._focused(rgb, near, before)
        else:
            merged = self._passes(rgb)
        return drop_contained(merged, s.contained_share) if s.contained_share < 1 else merged

    def _passes(self, rgb: np.ndarray) -> Detections:
        """Every pass, merged: a box kept where the passes agree or one is sure enough."""
        s = self.settings
        h, w = rgb.shape[:2]
        if s.tile_scale <= 0 and s.coarse_scale <= 0:
            return self.model.run(rgb, s.threshold)
        k = self.budget_factor(w, h)
        # Every picture the passes look at (the whole image, each tile, the downscaled image),
        # run at once where the model can.
        jobs: list[Callable[[], Detections]] = [lambda: self._whole(rgb, k)]
        tiles = self._tiles(rgb, s.tile_scale * k) if s.tile_scale > 0 else []
        coarse = [lambda: self._whole(rgb, s.coarse_scale * k)] if s.coarse_scale > 0 else []
        found = self.model.run_all(jobs + tiles + coarse)
        passes = [(found[0], s.whole_alone)]
        if s.tile_scale > 0:
            passes.append((Detections.concat(found[1:1 + len(tiles)]), s.tile_alone))
        if s.coarse_scale > 0:
            passes.append((found[-1], s.coarse_alone))
        dets = Detections.concat([d for d, _ in passes])
        pass_of = np.concatenate([np.full(len(d), i) for i, (d, _) in enumerate(passes)])
        alone = np.concatenate([np.full(len(d), max(a, s.threshold)) for d, a in passes])
        boxes, scores = [], []
        for group in nms_groups(dets, s.nms_iou):
            if (dets.scores[group] >= alone[group]).any() or len(set(pass_of[group])) > 1:
                # Each face is seen by several passes: the score-weighted mean box fits it best.
                boxes.append(merge_group(dets, group, "mean"))
                scores.append(dets.scores[group[0]])
        return Detections(np.reshape(boxes, (-1, 4)), scores).clipped(w, h)

    def budget_factor(self, width: int, height: int) -> float:
        """How much every pass is scaled down so that they fit `max_pixels` (1: not at all)."""
        s = self.settings
        passes = 1 + s.tile_scale ** 2 + s.coarse_scale ** 2
        return min(1.0, (s.max_pixels / (width * height * passes)) ** 0.5)

    def _whole(self, rgb: np.ndarray, factor: float) -> Detections:
        h, w = rgb.shape[:2]
        resized = resize(rgb, factor)
        dets = self.model.run(resized, self.settings.threshold)
        return dets.scaled(w / resized.shape[1], h / resized.shape[0])

    def _focused(self, rgb: np.ndarray, near: Detections, before: np.ndarray) -> Detections:
        """The whole frame downscaled, and as they are the regions around the small faces in
        `near` and where the picture changed since `before` (`DetectorSettings.focus_*`)."""
        s = self.settings
        h, w = rgb.shape[:2]
        regions = _joined(np.concatenate([
            _around(near.boxes, s.focus_face, s.focus_margin, w, h), _changed(rgb, before)]))
        if int(np.prod(regions[:, 2:] - regions[:, :2], axis=1).sum()) > s.focus_share * w * h:
            return self.model.run(rgb, s.threshold)
        def region(r: list[int]) -> Detections:
            x0, y0, x1, y1 = r
            dets = self.model.run(rgb[y0:y1, x0:x1], s.threshold)
            # A face cut by the region's edge is a part of a larger face (the downscaled pass
            # finds it whole), as in the tiles.
            dets = dets.select(~_cut(dets.boxes, Tile(x0, y0, x1 - x0, y1 - y0), w, h, 1, 1))
            return dets.scaled(1, 1, x0, y0)

        parts = self.model.run_all([lambda: self._whole(rgb, s.focus_scale)] + [
            functools.partial(region, r) for r in regions.tolist()])
        return nms(Detections.concat(parts), s.nms_iou, "best")

    def _tiles(self, rgb: np.ndarray, factor: float) -> list[Callable[[], Detections]]:
        """The tiles pass, a call per tile: overlapping tiles, each upscaled by `factor`. A box
        that reaches a tile's edge inside the picture is a face cut by the tile (a half or a
        quarter of a face, the phantom boxes this pass used to add) and is dropped: a face no
        larger than the overlap lies whole in a neighbouring tile, and a larger one is found
        whole by the passes over the whole picture."""
        s = self.settings
        h, w = rgb.shape[:2]
        side = max(32, int(s.tile_size / factor))

        def tile(t: Tile) -> Detections:
            crop = resize(rgb[t.y:t.y + t.h, t.x:t.x + t.w], factor)
            dets = self.model.run(crop, s.threshold)
            dets = dets.select(~_cut(dets.boxes, t, w, h, crop.shape[1] / t.w,
                                     crop.shape[0] / t.h))
            return dets.scaled(t.w / crop.shape[1], t.h / crop.shape[0], t.x, t.y)

        return [functools.partial(tile, t)
                for t in tile_grid(w, h, side, s.tile_overlap)]


def _around(boxes: np.ndarray, below: int, margin: float, width: int,
            height: int) -> np.ndarray:
    """Integer x0, y0, x1, y1 regions around each box whose longer side is below `below` px,
    `margin` of that side (at least 16 px) on every side, within the picture."""
    side = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) if len(boxes) else np.zeros(0)
    pad = np.maximum(margin * side, 16)[:, None]
    grown = np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1)[side < below]
    return np.clip(np.round(grown), 0, [width, height, width, height]).astype(int)


# The picture is compared in cells of this many pixels (mean grey level); a cell changed when
# its level moved by more than CHANGE_LEVEL (of 255): noise and compression average out in a
# cell, a face of a few pixels moving does not.
CHANGE_CELL = 8
CHANGE_LEVEL = 10


def _changed(rgb: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Integer x0, y0, x1, y1 regions where `rgb` differs from `before` (same size), each grown
    by two cells on every side."""
    h, w = rgb.shape[:2]
    if before.shape != rgb.shape:
        return np.array([[0, 0, w, h]])
    size = (max(1, w // CHANGE_CELL), max(1, h // CHANGE_CELL))
    cells = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
             for x in (rgb, before)]
    moved = (cv2.absdiff(*cells) > CHANGE_LEVEL).astype(np.uint8)
    moved = cv2.dilate(moved, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(moved, connectivity=8)
    kx, ky = w / size[0], h / size[1]
    rects = [[x * kx, y * ky, (x + cw) * kx, (y + ch) * ky] for x, y, cw, ch, _ in stats[1:count]]
    return np.clip(np.round(np.reshape(rects, (-1, 4))), 0, [w, h, w, h]).astype(int)


def _joined(rects: np.ndarray) -> np.ndarray:
    """`rects` (integer x0, y0, x1, y1) with overlapping ones joined into their bounding
    rectangle until none overlap; slivers under 8 px dropped."""
    todo = [r for r in rects.tolist() if r[2] - r[0] >= 8 and r[3] - r[1] >= 8]
    joined = True
    while joined:
        joined = False
        out: list[list[int]] = []
        for r in todo:
            for o in out:
                if r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3]:
                    o[:] = [min(o[0], r[0]), min(o[1], r[1]), max(o[2], r[2]), max(o[3], r[3])]
                    joined = True
                    break
            else:
                out.append(r)
        todo = out
    return np.array(todo, int).reshape(-1, 4)


def _cut(boxes: np.ndarray, tile: Tile, width: int, height: int, kx: float,
         ky: float) -> np.ndarray:
    """Which boxes (in the pixels of the upscaled tile) reach an edge of `tile` that lies
    inside the `width`×`height` picture, within one picture pixel."""
    tw, th = tile.w * kx, tile.h * ky
    cut = np.zeros(len(boxes), bool)
    if tile.x > 0:
        cut |= boxes[:, 0] <= kx
    if tile.y > 0:
        cut |= boxes[:, 1] <= ky
    if tile.x + tile.w < width:
        cut |= boxes[:, 2] >= tw - kx
    if tile.y + tile.h < height:
        cut |= boxes[:, 3] >= th - ky
    return cut
