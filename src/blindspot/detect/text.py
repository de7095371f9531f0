"""Text detection: the bundled PP-OCRv4 detection model (DB, "Differentiable Binarization") on
ONNX Runtime, and a rule that tells licence plates from other text.

`TextDetector.detect(rgb)` returns axis-aligned boxes that hug text lines and words (the
redactor pads them, see `redact.TEXT_PAD`), of kind PLATE when the line has a plate's shape
and TEXT otherwise. The model runs on the whole picture (at most `whole_pixels`), and on
overlapping tiles upscaled by `tile_scale` with their contrast equalised (small text, far or
dark plates). All passes together stay within `max_pixels` of network input: a large photo
gets one pass over the whole picture, downscaled to fit (about 0.8 s for 12 MP on two cores).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ..detections import PLATE, TEXT, Detections, drop_contained, nms
from .badges import Ring, badges, rim_views
from .onnx import load_model
from .openvino_cpu import open_model
from .tiles import resize, tile_grid

MODEL_FILE = "ppocrv4_det.onnx"
MODEL_SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"


@dataclass(frozen=True)
class TextSettings:
    """How hard to look for text. Defaults chosen with `bench/text.py` on its tune half."""

    # A pixel is text when the model's probability reaches `threshold`; a region of such
    # pixels is kept when the mean probability over its box reaches `box_threshold`.
    threshold: float = 0.3
    box_threshold: float = 0.5
    # A region under `box_threshold` over its rectangle is kept when the mean over its own
    # outline reaches this (curved text). On the tune halves, text2's curved words scored
    # 0.83-0.93 over their outlines; most such regions on street photos without curved text
    # (clothing folds, railings, wheels) scored 0.50-0.78.
    curve_threshold: float = 0.8
    # A kept region filling less than this share of the upright box around its rectangle (an
    # arc; a line at a steep angle) is covered by boxes along it rather than by that box
    # (`_ribbon_boxes`); a level line of text fills most of it.
    curve_fill: float = 0.5
    # DB's regions are shrunk text: each is grown by area × `unclip_ratio` / perimeter.
    unclip_ratio: float = 1.5
    # Regions whose shorter side is under this many network pixels are dropped.
    min_size: float = 3.0
    # The whole-picture pass: the picture is scaled so its shorter side is at least
    # `min_side` (small pictures are upscaled, as PP-OCR does) and it holds at most
    # `whole_pixels` pixels.
    min_side: int = 736
    whole_pixels: int = 2_100_000
    # The tiles pass: overlapping tiles upscaled by `tile_scale` (0: none), `tile_size`
    # network pixels square, overlapping by `tile_overlap` picture pixels; scaled down to
    # fit `max_pixels`, and left out when that would take them below `tile_min_scale`.
    tile_scale: float = 2.0
    tile_min_scale: float = 1.0
    tile_size: int = 768
    tile_overlap: int = 48
    # Both passes together never feed the network more pixels than this (the tiles pass is
    # scaled down, then skipped, to fit).
    max_pixels: int = 4_000_000
    # Round badges (`badges.badges`: patches, seals; names along the rim in letters too small
    # for the other passes) have their rims unrolled into straight strips, the model looks
    # for text there, and what it finds is covered along the arc (`rim_lines`).
    rims: bool = True
    # A plate: a text line of a plate's shape (`is_plate`). Chosen to cover every plate of
    # the tune half; geometry alone also calls some other lines plates (signs, receipt lines).
    plate_min_aspect: float = 1.2
    plate_max_aspect: float = 11.0
    plate_min_height: float = 10.0
    plate_max_height: float = 0.2  # share of the picture's height
    plate_min_score: float = 0.6
    # Local contrast equalisation (CLAHE clip limit on the lightness; 0: none) of what the
    # model sees in the tiles (`clahe`) and in the whole pass (`clahe_whole`): plates at night
    # have too little contrast for it. Both kinds of pass see each plate: the tiles equalised
    # (a dark plate found), the whole picture as it is (equalised, it lost a dashcam plate).
    clahe: float = 2.0
    clahe_whole: float = 0.0
    clahe_grid: int = 8
    # Where the model runs, its threads and its precision on the CPU (see `DetectorSettings`).
    device: str = "cpu"
    threads: int = 0
    precision: str = "auto"

    @classmethod
    def video(cls, **changes: object) -> TextSettings:
        """For video frames: the whole frame once, at most about 720p (a 1080p frame is
        downscaled), no tiles: about a quarter of a second per frame on two cores."""
        return cls(**{"tile_scale": 0.0, "rims": False, "max_pixels": VIDEO_MAX_PIXELS,
                      **changes})


VIDEO_MAX_PIXELS = 1_000_000


class TextModel:
    """The PP-OCRv4 detection model (in bfloat16 where the CPU computes it: `open_model`)."""

    def __init__(self, threads: int = 0, device: str = "cpu", precision: str = "auto") -> None:
        self.precision, self.session = open_model(load_model(MODEL_FILE, MODEL_SHA256), threads,
                                                  device, precision)
        self._lock = threading.Lock()

    def probability(self, rgb: np.ndarray, clahe: float = 0.0, grid: int = 8) -> np.ndarray:
        """The model's text probability map for `rgb` (H×W×3 uint8), H×W float32."""
        h, w = rgb.shape[:2]
        if clahe > 0:
            lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
            lab[:, :, 0] = cv2.createCLAHE(clahe, (grid, grid)).apply(lab[:, :, 0])
            rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        pad_h, pad_w = -h % 32, -w % 32
        bgr = rgb[:, :, ::-1]  # PP-OCR reads pictures with OpenCV: BGR
        if pad_h or pad_w:
            bgr = cv2.copyMakeBorder(bgr, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        blob = (bgr.astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
        with self._lock:
            (prob,) = self.session.run(None, {"x": np.ascontiguousarray(blob)})
        return prob[0, 0, :h, :w]


def boxes_from_probability(prob: np.ndarray, s: TextSettings) -> Detections:
    """DB post-processing: the axis-aligned boxes (in `prob`'s pixels) of the text regions."""
    mask = cv2.dilate((prob > s.threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    h, w = prob.shape
    boxes, scores = [], []
    for contour in contours[:2000]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < s.min_size:
            continue
        corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        score = _mean_inside(prob, corners)
        curved = False
        if score < s.box_threshold:
            # An arc of text (a patch's rim, an arched print) fills a small part of its
            # rectangle: the mean over its own outline decides, at a stricter threshold.
            score = _mean_inside(prob, contour.reshape(-1, 2).astype(np.float32))
            score, curved = (score, True) if score >= s.curve_threshold else (0.0, False)
        if score < s.box_threshold:
            continue
        # A region that fills less than `curve_fill` of the upright box around its rectangle
        # (an arc; a line at a steep angle) is covered piece by piece too.
        # (Only where that box is several lines tall: a short or level line stays one box.)
        upright = np.ptp(corners, axis=0)
        area = cv2.contourArea(contour)
        thick = 2 * area / max(cv2.arcLength(contour, True), 1e-6)
        curved = curved or (area < s.curve_fill * upright[0] * upright[1]
                            and upright.min() >= 4 * thick)
        if curved:  # covered piece by piece along the arc, not by one box around its bow
            grow = thick * s.unclip_ratio / 2
            for box in _ribbon_boxes(contour, grow, 2 * (thick + 2 * grow), angle, rw >= rh):
                x1, y1, x2, y2 = box
                boxes.append((max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)))
                scores.append(score)
            continue
        grow = rw * rh * s.unclip_ratio / (2 * (rw + rh))
        rw, rh = rw + 2 * grow, rh + 2 * grow
        if min(rw, rh) < s.min_size + 2:
            continue
        corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        x1, y1 = corners.min(axis=0)
        x2, y2 = corners.max(axis=0)
        boxes.append((max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)))
        scores.append(score)
    return Detections(np.reshape(boxes, (-1, 4)), scores, kinds=np.full(len(boxes), TEXT))


def _ribbon_boxes(contour: np.ndarray, grow: float, step: float, angle: float,
                  wide: bool) -> list[tuple[float, float, float, float]]:
    """A curved region (its outline `contour`, grown by `grow` pixels) as axis-aligned boxes,
    one per `step` pixels along its rectangle's long side (`angle` in degrees; `wide`: the
    rectangle's width is its long side): their union follows the arc."""
    x, y, bw, bh = cv2.boundingRect(contour)
    pad = int(np.ceil(grow)) + 1
    mask = np.zeros((bh + 2 * pad, bw + 2 * pad), np.uint8)
    cv2.drawContours(mask, [contour - np.array([x - pad, y - pad], np.int32)], -1, 1, -1)
    if grow >= 0.5:
        size = 2 * int(round(grow)) + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    ys, xs = np.nonzero(mask)
    theta = np.deg2rad(angle if wide else angle + 90.0)
    along = xs * np.cos(theta) + ys * np.sin(theta)
    pieces = max(1, int(np.ceil(np.ptp(along) / max(step, 1.0))))
    which = np.minimum(((along - along.min()) / (np.ptp(along) + 1e-9) * pieces).astype(int),
                       pieces - 1)
    out = []
    for k in range(pieces):
        sel = which == k
        if sel.any():
            out.append((float(xs[sel].min() + x - pad), float(ys[sel].min() + y - pad),
                        float(xs[sel].max() + 1 + x - pad), float(ys[sel].max() + 1 + y - pad)))
    return out


def _mean_inside(prob: np.ndarray, corners: np.ndarray) -> float:
    """The mean of `prob` inside the polygon `corners` (N×2, x and y)."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(corners - [x0, y0]).astype(np.int32)], 1)
    return cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0]


def is_plate(dets: Detections, height: int, s: TextSettings) -> np.ndarray:
    """Which boxes have a licence plate's shape: a line wider than tall, neither tiny nor a
    large part of the picture, that the model is sure of."""
    w = dets.boxes[:, 2] - dets.boxes[:, 0]
    h = dets.boxes[:, 3] - dets.boxes[:, 1]
    aspect = w / np.maximum(h, 1e-6)
    return ((aspect >= s.plate_min_aspect) & (aspect <= s.plate_max_aspect)
            & (h >= s.plate_min_height) & (h <= s.plate_max_height * height)
            & (dets.scores >= s.plate_min_score))


class TextDetector:
    """Text lines and plates in one picture, with one model session."""

    def __init__(self, settings: TextSettings | None = None,
                 model: TextModel | None = None) -> None:
        self.settings = settings or TextSettings()
        self.model = model or TextModel(self.settings.threads, self.settings.device,
                                        self.settings.precision)

    def detect(self, rgb: np.ndarray,
               rim_lines: list[tuple[Ring, np.ndarray, float]] | None = None) -> Detections:
        """The text boxes in `rgb` (H×W×3 uint8 RGB), kind PLATE or TEXT. `rim_lines`: what
        `rim_lines(rgb)` gave already (the audit reads those lines too), not found again."""
        s = self.settings
        h, w = rgb.shape[:2]
        whole_k, tile_k = self.scales(w, h)
        small = resize(rgb, whole_k)
        prob = self.model.probability(small, s.clahe_whole, s.clahe_grid)
        parts = [boxes_from_probability(prob, s).scaled(w / small.shape[1], h / small.shape[0])]
        if tile_k > 0:
            parts.append(self._tiled(rgb, tile_k))
        if s.rims:
            parts.append(_rim_boxes(self.rim_lines(rgb) if rim_lines is None else rim_lines))
        dets = Detections.concat(parts)
        if not len(dets):
            return dets
        dets = drop_contained(nms(dets.clipped(w, h), 0.5, "union"), 0.8)
        kinds = np.where(is_plate(dets, h, s), PLATE, TEXT)
        return Detections(dets.boxes, dets.scores, kinds=kinds)

    def scales(self, width: int, height: int) -> tuple[float, float]:
        """The scale of the whole-picture pass and of the tiles (0: no tiles). The tiles get
        what the whole pass leaves of `max_pixels`, down to 1× (a tile pass that can't
        enlarge the picture adds nothing); when that is not enough, the whole pass gets all
        of `max_pixels` and there are no tiles."""
        s = self.settings
        area = width * height
        upscale = max(1.0, s.min_side / min(width, height))
        whole = min(upscale, (s.whole_pixels / area) ** 0.5)
        tiles = min(s.tile_scale, ((s.max_pixels - area * whole ** 2) / area) ** 0.5
                    if s.max_pixels > area * whole ** 2 else 0.0)
        if s.tile_scale > 0 and tiles >= s.tile_min_scale:
            return whole, tiles
        return min(upscale, (s.max_pixels / area) ** 0.5), 0.0

    def _tiled(self, rgb: np.ndarray, factor: float) -> Detections:
        s = self.settings
        h, w = rgb.shape[:2]
        parts = []
        for t in tile_grid(w, h, max(64, int(s.tile_size / factor)), s.tile_overlap):
            crop = resize(rgb[t.y:t.y + t.h, t.x:t.x + t.w], factor)
            prob = self.model.probability(crop, s.clahe, s.clahe_grid)
            parts.append(boxes_from_probability(prob, s).scaled(
                t.w / crop.shape[1], t.h / crop.shape[0], t.x, t.y))
        return Detections.concat(parts)

    def rim_lines(self, rgb: np.ndarray) -> list[tuple[Ring, np.ndarray, float]]:
        """Text along the rims of round badges: each rim band of each badge unrolled into a
        strip (`Ring`), equalised as the tiles are, and the model run on it. For each region
        found: its ring, its box in the strip's pixels (x1, y1, x2, y2) and its score."""
        s = self.settings
        found = []
        for circle in badges(rgb):
            for ring in rim_views(circle):
                strip = self.model.probability(ring.render(rgb), s.clahe, s.clahe_grid)
                regions = boxes_from_probability(strip, s)
                found += [(ring, box, float(score))
                          for box, score in zip(regions.boxes, regions.scores, strict=True)]
        return found


def _rim_boxes(lines: list[tuple[Ring, np.ndarray, float]]) -> Detections:
    """`TextDetector.rim_lines` as picture boxes: each line covered by boxes along its arc."""
    boxes, scores = [], []
    for ring, box, score in lines:
        pieces = _arc_boxes(ring, box)
        boxes += pieces
        scores += [score] * len(pieces)
    return Detections(np.reshape(boxes, (-1, 4)), scores, kinds=np.full(len(boxes), TEXT))


# A rim line is covered this many times its height further along the arc at each end: the
# model's region fades out over a rim name's first and last letters (the demo's mission patch:
# the "CO" of "COLEMAN" scored under the threshold while "LEMAN" was found).
RIM_END_PAD = 2.0


def _arc_boxes(ring: Ring, box: np.ndarray) -> list[tuple[float, float, float, float]]:
    """A box of a ring's strip (x1, y1, x2, y2), grown along the arc by `RIM_END_PAD` at each
    end, as axis-aligned boxes along its arc in the picture: one per piece about as long as the
    box is tall."""
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = RIM_END_PAD * (y2 - y1)
    x1, x2 = x1 - pad, x2 + pad
    pieces = max(1, int(np.ceil((x2 - x1) / max(1.0, y2 - y1))))
    out = []
    for k in range(pieces):
        a, b = x1 + (x2 - x1) * k / pieces, x1 + (x2 - x1) * (k + 1) / pieces
        corners = [(a, y1), (b, y1), (a, y2), (b, y2), ((a + b) / 2, y1), ((a + b) / 2, y2)]
        pts = ring.to_picture(None, np.array(corners))
        (px1, py1), (px2, py2) = pts.min(axis=0), pts.max(axis=0)
        out.append((float(px1), float(py1), float(px2), float(py2)))
    return out
