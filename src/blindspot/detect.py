"""Face detection: the bundled CenterFace model on ONNX Runtime, run at several scales.

`FaceDetector.detect(rgb)` returns the `Detections` blindspot covers. It runs the model on the
whole image and again on upscaled overlapping tiles (small faces in crowds are what a single
pass misses), then merges everything with NMS.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
import onnxruntime as ort

from .detections import Detections, nms
from .errors import BlindspotError
from .tiles import tile_grid

MODEL_NAME = "centerface"
MODEL_FILE = "centerface.onnx"
MODEL_SHA256 = "a55914d0f3472fa07baa66f09b4056301e5f771ffa6717faf2322707965fefc1"
# An explicit provider list: ONNX Runtime's default order picks a slower provider on CPUs.
PROVIDERS = ["CPUExecutionProvider"]


@dataclass(frozen=True)
class DetectorSettings:
    """How hard to look. The defaults were chosen with `bench/detection.py` (see README)."""

    threshold: float = 0.3
    # Whole-image pass: the image is resized so its longer side is at most this (None: as is).
    full_max_side: int | None = None
    # Tiled pass: tiles are upscaled by this factor (1.0 = native resolution, 0 = no tiles).
    tile_scale: float = 2.0
    # Tile side in network pixels, and the overlap between tiles in image pixels.
    tile_size: int = 640
    tile_overlap: int = 48
    # The tiled pass never feeds the network more pixels than this per image: large photos get
    # a smaller upscale (down to native resolution), which keeps a 12 MP photo within seconds.
    max_tiled_pixels: int = 14_000_000
    nms_iou: float = 0.4


def _load_model_bytes() -> bytes:
    data = resources.files("blindspot").joinpath("models", MODEL_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise BlindspotError(f"bundled model {MODEL_FILE} is damaged (sha256 {digest})")
    return data


class CenterFace:
    """One ONNX Runtime session of the CenterFace model; `run` detects in one RGB array."""

    def __init__(self, intra_op_threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(_load_model_bytes(), options, providers=PROVIDERS)
        self._lock = threading.Lock()

    def run(self, rgb: np.ndarray, threshold: float) -> Detections:
        """Faces in `rgb` (H×W×3 uint8) whose score is at least `threshold`."""
        h, w = rgb.shape[:2]
        pad_h, pad_w = -h % 32, -w % 32
        if pad_h or pad_w:
            rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        with self._lock:
            heatmap, scale, offset, _ = self.session.run(None, {"input.1": blob})
        return _decode(heatmap[0, 0], scale[0], offset[0], threshold).clipped(w, h)


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
    return nms(Detections(boxes, heatmap[ys, xs]), 0.3)


def _resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interp = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
    return cv2.resize(rgb, size, interpolation=interp)


class FaceDetector:
    """Multi-scale face detection with one model session."""

    def __init__(self, settings: DetectorSettings | None = None,
                 model: CenterFace | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.model = model or CenterFace()

    def detect(self, rgb: np.ndarray) -> Detections:
        s = self.settings
        h, w = rgb.shape[:2]
        parts = [self._whole(rgb)]
        tile_factor = self.tile_factor(w, h)
        if tile_factor > 0:
            parts.append(self._tiled(rgb, tile_factor))
        return nms(Detections.concat(parts), s.nms_iou).clipped(w, h)

    def tile_factor(self, width: int, height: int) -> float:
        """The upscale of the tiled pass for an image of this size (0: no tiled pass)."""
        s = self.settings
        if s.tile_scale <= 0:
            return 0.0
        budget = (s.max_tiled_pixels / (width * height)) ** 0.5
        return max(1.0, min(s.tile_scale, budget))

    def _whole(self, rgb: np.ndarray) -> Detections:
        s = self.settings
        h, w = rgb.shape[:2]
        factor = 1.0
        if s.full_max_side and max(h, w) > s.full_max_side:
            factor = s.full_max_side / max(h, w)
        dets = self.model.run(_resize(rgb, factor), s.threshold)
        return dets.scaled(1 / factor, 1 / factor)

    def _tiled(self, rgb: np.ndarray, factor: float) -> Detections:
        s = self.settings
        h, w = rgb.shape[:2]
        src_size = max(32, int(s.tile_size / factor))
        parts = []
        for t in tile_grid(w, h, src_size, s.tile_overlap):
            crop = _resize(rgb[t.y:t.y + t.h, t.x:t.x + t.w], factor)
            dets = self.model.run(crop, s.threshold)
            sx, sy = t.w / crop.shape[1], t.h / crop.shape[0]
            parts.append(dets.scaled(sx, sy, t.x, t.y))
        return Detections.concat(parts)
