"""Round badges (patches, seals, stamps: names along a rim) and their rims unrolled.

`badges` finds circles with a sure, whole edge (OpenCV's Hough transform); `rim_views` gives
the bands of a circle where such text runs; a `Ring` unrolls one band into a straight strip
(a polar transform: the strip's x follows the circle, its y the radius) and maps the strip's
pixels back to the picture's, so text found or read on the strip has a place in the picture.
The text detector looks for text along the rims; the audit reads there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h

# Round badges: at most this many circles, found on the picture at most this size.
BADGES = 6
BADGE_MAX_PIXELS = 600_000
BADGE_MIN_RADIUS = 16  # px in the picture: rim letters of 5 px and more
# The rim bands unrolled, as shares of the circle's radius: the rim inside the circle (a
# badge's edge) and a ring outside it (the circle found is the badge's middle disc).
RING_BANDS = ((0.68, 1.0), (1.1, 1.55))


def badges(rgb: np.ndarray, most: int = BADGES) -> list[tuple[float, float, float]]:
    """Round badges: circles (x, y, radius in the picture's pixels) OpenCV's Hough transform
    finds with a sure, whole edge (HOUGH_GRADIENT_ALT, a perfectness of 0.8)."""
    h, w = rgb.shape[:2]
    k = min(1.0, (BADGE_MAX_PIXELS / max(1, h * w)) ** 0.5)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if k < 1:
        gray = cv2.resize(gray, (max(1, round(w * k)), max(1, round(h * k))),
                          interpolation=cv2.INTER_AREA)
    low = max(6, round(BADGE_MIN_RADIUS * k))
    high = max(low + 1, round(min(gray.shape) / 2))
    found = cv2.HoughCircles(gray, cv2.HOUGH_GRADIENT_ALT, dp=1.5, minDist=max(8.0, 20 * k),
                             param1=300, param2=0.8, minRadius=low, maxRadius=high)
    if found is None:
        return []
    return [(float(x) / k, float(y) / k, float(r) / k) for x, y, r in found[0][:most]]


def rim_views(circle: tuple[float, float, float]) -> list[Ring]:
    """The strips a badge's text is read in: each band of RING_BANDS, along the top and
    along the bottom."""
    x, y, r = circle
    return [Ring(x, y, lo * r, hi * r, side) for lo, hi in RING_BANDS
            for side in ("top", "bottom")]


# A ring's strip is STRIP_HEIGHT px high whatever the badge's size: its radius band is scaled
# so, and the circle's length alike.
STRIP_HEIGHT = 64


@dataclass(frozen=True)
class Ring:
    """A round badge's band of radii `inner`..`outer` (px) around (`cx`, `cy`), unrolled into
    a strip `STRIP_HEIGHT` px high. `side` "top": read clockwise with the letters' tops
    outwards (text along the top of a badge); "bottom": anticlockwise, tops inwards (along the
    bottom). The strip starts opposite the side it reads, so that side's text lies whole in
    its middle."""

    cx: float
    cy: float
    inner: float
    outer: float
    side: str = "top"

    @property
    def k(self) -> float:
        """Strip pixels per picture pixel."""
        return STRIP_HEIGHT / max(1e-6, self.outer - self.inner)

    def size(self, shape: tuple[int, ...] | None = None) -> tuple[int, int]:
        middle = (self.inner + self.outer) / 2
        return max(1, round(2 * math.pi * middle * self.k)), STRIP_HEIGHT

    def to_picture(self, shape: tuple[int, ...] | None, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        middle = (self.inner + self.outer) / 2
        along = pts[:, 0] / (middle * self.k)
        if self.side == "top":  # from the bottom (90°, y down) clockwise; y 0 = outer
            theta, r = math.pi / 2 + along, self.outer - pts[:, 1] / self.k
        else:  # from the top anticlockwise; y 0 = inner
            theta, r = 3 * math.pi / 2 - along, self.inner + pts[:, 1] / self.k
        return np.stack([self.cx + r * np.cos(theta), self.cy + r * np.sin(theta)], axis=1)

    def render(self, rgb: np.ndarray, box: Box | None = None) -> np.ndarray:
        w, h = self.size()
        x0, y0 = 0.0, 0.0
        if box is not None:
            x0, y0, bw, bh = box
            w, h = max(1, round(bw)), max(1, round(bh))
        u, v = np.meshgrid(np.arange(w, dtype=np.float64) + x0,
                           np.arange(h, dtype=np.float64) + y0)
        xy = self.to_picture(None, np.stack([u.ravel(), v.ravel()], axis=1))
        map_x = xy[:, 0].reshape(h, w).astype(np.float32)
        map_y = xy[:, 1].reshape(h, w).astype(np.float32)
        return cv2.remap(rgb, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=outside(rgb))


def outside(rgb: np.ndarray) -> tuple[float, ...]:
    """What a view shows outside the picture: mid-grey, the same for an original and its
    output (so that both are read alike)."""
    return (128.0,) * (rgb.shape[2] if rgb.ndim == 3 else 1)
