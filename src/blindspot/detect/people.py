"""Person detection: the bundled YOLOX-nano object detector on ONNX Runtime, its person class
only, on the whole picture and on overlapping tiles (people far away are small).

`PeopleDetector.detect(rgb)` returns boxes of kind PERSON as the model draws them, unpadded
(the redactor fills them). The model takes one 416×416 picture: the whole picture is scaled
to fit (letterboxed), then overlapping tiles, each at most three quarters of the picture's
shorter side square, are fed at 416×416 too (2×2 tiles on a 4:3 photo see people 1.8× as
large as the whole pass, 3×2 on a 16:9 frame 2.5×). The boxes of all passes are merged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..detections import PERSON, Detections, drop_contained, nms
from .onnx import load_model, session
from .tiles import Tile, resize, tile_grid

MODEL_FILE = "yolox_nano.onnx"
MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
# The network's input side, its strides and the padding colour of its letterbox (YOLOX's
# `preproc`: BGR, 0–255 as they are, padded with grey 114 right and below).
INPUT_SIDE = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
PERSON_CLASS = 0  # COCO's first class


@dataclass(frozen=True)
class PeopleSettings:
    """How hard to look for people. Defaults chosen with `bench/people.py` on its tune half."""

    # A box is kept when objectness × person probability reaches this (YOLOX's demo keeps
    # 0.3; far and partly hidden people score lower, and a missed person is what matters).
    threshold: float = 0.1
    # Within one pass, boxes overlapping by this IoU are one person (YOLOX's demo: 0.45).
    nms_iou: float = 0.45
    # The tiles (`tiles.tile_grid`): at most `tile_share` × the picture's shorter side square
    # (0: no tiles) and at most `tile_max_side` pixels (a large photo gets more tiles, not
    # coarser ones), neighbours overlapping by `tile_overlap` × that side; at most
    # `max_tiles` of them (the tiles grow to fit). Each is fed to the network at 416×416.
    tile_share: float = 0.75
    tile_overlap: float = 0.2
    tile_max_side: int = 1280
    max_tiles: int = 12
    # Tiles only for pictures whose longer side is over this many pixels (0: any).
    tiles_over: int = 0
    # Boxes of a tile that reach one of its edges inside the picture are a person cut by the
    # tile and are dropped (a person no taller than the overlap lies whole in another tile, a
    # larger one is seen whole by the whole pass).
    drop_cut: bool = True
    # Boxes of all passes overlapping by this IoU are merged into their union (the union
    # never covers less than either box).
    merge_iou: float = 0.5
    # A box lying this much (share of its area) inside a larger, surer box is a part of that
    # person (a tile's view of a body cut by its edge) and is dropped (1: never).
    contained_share: float = 0.8
    # Where the model runs and ONNX Runtime's intra-op threads (see `DetectorSettings`).
    device: str = "cpu"
    threads: int = 0

    @classmethod
    def video(cls, **changes: object) -> PeopleSettings:
        """For video frames between the thorough ones: larger tiles, at most four (two
        across a 16:9 frame up to 1080p), three passes instead of seven; a frame up to 640 px
        gets the whole pass only (the network sees it at 0.65 of its size or more: on the
        dev clips of 320-640 px no person left uncovered, the pass costing a third)."""
        return cls(**{"tile_share": 1.0, "tile_overlap": 0.1, "max_tiles": 4,
                      "tiles_over": 640, **changes})


class YoloxModel:
    """One ONNX Runtime session of YOLOX-nano; `run` finds people in one picture."""

    def __init__(self, threads: int = 0, device: str = "cpu") -> None:
        self.session = session(load_model(MODEL_FILE, MODEL_SHA256), threads, device)
        self._lock = threading.Lock()
        self.grid = grid()

    def run(self, rgb: np.ndarray, threshold: float, nms_iou: float) -> Detections:
        """The people in `rgb` (H×W×3 uint8 RGB, any size: letterboxed into 416×416) whose
        score reaches `threshold`, in `rgb`'s pixels."""
        h, w = rgb.shape[:2]
        scaled = resize(rgb, INPUT_SIDE / max(h, w))
        sh, sw = scaled.shape[:2]
        canvas = np.full((INPUT_SIDE, INPUT_SIDE, 3), PAD_VALUE, np.uint8)
        canvas[:sh, :sw] = scaled[:, :, ::-1]  # YOLOX reads pictures as BGR
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        with self._lock:
            (out,) = self.session.run(None, {"images": blob})
        dets = decode(out[0], self.grid, threshold)
        dets = nms(dets, nms_iou, "best") if len(dets) > 1 else dets
        return dets.scaled(w / sw, h / sh).clipped(w, h)


def grid(side: int = INPUT_SIDE) -> np.ndarray:
    """For each of the network's outputs (3549 for 416): its cell's x, y and stride, N×3."""
    rows = []
    for stride in STRIDES:
        n = side // stride
        ys, xs = np.mgrid[:n, :n]
        rows.append(np.stack([xs.ravel(), ys.ravel(), np.full(n * n, stride)], axis=1))
    return np.concatenate(rows).astype(np.float32)


def decode(out: np.ndarray, cells: np.ndarray, threshold: float) -> Detections:
    """Person boxes (network pixels) from YOLOX's raw output (N×85: x and y offsets in cells,
    log width and height in cells, objectness, 80 class probabilities) whose objectness ×
    person probability reaches `threshold`."""
    scores = out[:, 4] * out[:, 5 + PERSON_CLASS]
    keep = scores >= threshold
    out, cells, scores = out[keep], cells[keep], scores[keep]
    stride = cells[:, 2:3]
    centre = (out[:, :2] + cells[:, :2]) * stride
    half = np.exp(np.minimum(out[:, 2:4], 10.0)) * stride / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    return Detections(boxes, scores, kinds=np.full(len(boxes), PERSON))


class PeopleDetector:
    """People in one picture (whole and tiles), with one model session."""

    def __init__(self, settings: PeopleSettings | None = None,
                 model: YoloxModel | None = None) -> None:
        self.settings = settings or PeopleSettings()
        self.model = model or YoloxModel(self.settings.threads, self.settings.device)

    def detect(self, rgb: np.ndarray) -> Detections:
        """The person boxes in `rgb` (H×W×3 uint8 RGB), kind PERSON, unpadded."""
        s = self.settings
        h, w = rgb.shape[:2]
        parts = [self.model.run(rgb, s.threshold, s.nms_iou)]
        for t in self.tiles(w, h):
            found = self.model.run(rgb[t.y:t.y + t.h, t.x:t.x + t.w], s.threshold, s.nms_iou)
            if s.drop_cut:
                found = found.select(~cut(found.boxes, t, w, h))
            parts.append(found.scaled(1.0, 1.0, t.x, t.y))
        dets = Detections.concat(parts)
        if len(parts) > 1 and len(dets) > 1:
            dets = nms(dets, s.merge_iou, "union")
            if s.contained_share < 1:
                dets = drop_contained(dets, s.contained_share)
        return dets.clipped(w, h)

    def tiles(self, width: int, height: int) -> list[Tile]:
        """The tiles of a `width`×`height` picture; none when the settings have no tiles or a
        tile would hold the whole picture."""
        s = self.settings
        if s.tile_share <= 0 or max(width, height) <= s.tiles_over:
            return []
        side = min(s.tile_share * min(width, height), float(s.tile_max_side))
        while True:
            size = max(32, round(side))
            if size >= max(width, height):
                return []
            tiles = tile_grid(width, height, size, round(s.tile_overlap * size))
            if len(tiles) <= s.max_tiles:
                return tiles
            side *= 1.1


def cut(boxes: np.ndarray, tile: Tile, width: int, height: int) -> np.ndarray:
    """Which boxes (in `tile`'s pixels) reach, within a pixel, an edge of `tile` that lies
    inside the `width`×`height` picture."""
    hit = np.zeros(len(boxes), bool)
    if tile.x > 0:
        hit |= boxes[:, 0] <= 1
    if tile.y > 0:
        hit |= boxes[:, 1] <= 1
    if tile.x + tile.w < width:
        hit |= boxes[:, 2] >= tile.w - 1
    if tile.y + tile.h < height:
        hit |= boxes[:, 3] >= tile.h - 1
    return hit
