"""Views of a picture for the audit's readers, and the words they read mapped back to it.

A reader reads an image; the audit shows it the picture in several ways, each a `view`:
`Turn` is the picture rotated by `angle` degrees and scaled by `scale` (tilted and small text),
`Ring` a round badge unrolled into a straight strip (names along a patch's rim: a polar
transform, the strip's x following the circle, its y the radius). Every view maps its pixels
back to the picture's (`to_picture`), so a word read anywhere has a place in the picture, and
renders any box of itself (`render`), so the same word can be read again, in the same way, in
another picture of the same size (the original and its output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..detect.badges import Ring, outside

Box = tuple[float, float, float, float]  # x, y, w, h


@dataclass(frozen=True)
class Turn:
    """The picture rotated by `angle` degrees (counter-clockwise) about its middle and scaled
    by `scale`, on a canvas that holds all of it."""

    angle: float = 0.0
    scale: float = 1.0

    def matrix(self, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, int]]:
        """The 2×3 matrix from the picture to the view, and the view's size (w, h)."""
        h, w = shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), self.angle, self.scale)
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        m[:, 2] -= lo
        return m, (max(1, math.ceil(hi[0] - lo[0])), max(1, math.ceil(hi[1] - lo[1])))

    def size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return self.matrix(shape)[1]

    def render(self, rgb: np.ndarray, box: Box | None = None) -> np.ndarray:
        """The view of `rgb`, or its `box` only (view pixels); what lies outside the picture
        is mid-grey."""
        m, size = self.matrix(rgb.shape)
        if box is not None:
            x, y, w, h = box
            m = m.copy()
            m[:, 2] -= (x, y)
            size = (max(1, round(w)), max(1, round(h)))
        if box is None and self.angle == 0 and self.scale == 1:
            return rgb
        interp = cv2.INTER_CUBIC if self.scale > 1 else cv2.INTER_AREA
        return cv2.warpAffine(rgb, m, size, flags=interp, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=outside(rgb))

    def to_picture(self, shape: tuple[int, ...], points: np.ndarray) -> np.ndarray:
        """View pixels (N×2) as picture pixels."""
        inv = cv2.invertAffineTransform(self.matrix(shape)[0])
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return pts @ inv[:, :2].T + inv[:, 2]


View = Turn | Ring


@dataclass(frozen=True)
class Word:
    """One word a reader read in a view. `text` stays in memory: the audit never reports it."""

    reader: str  # "tesseract" or "pp-ocr"
    view: View
    view_box: Box  # where it was read, in the view's pixels
    quad: tuple[tuple[float, float], ...]  # the box's corners in the picture
    text: str
    confidence: float  # 0..1
    crop: Box | None = None  # the part of the view the reader was shown (None: all of it)

    @property
    def box(self) -> Box:
        """The axis-aligned box around the word in the picture: x, y, w, h."""
        q = np.asarray(self.quad)
        x1, y1 = q.min(axis=0)
        x2, y2 = q.max(axis=0)
        return float(x1), float(y1), float(x2 - x1), float(y2 - y1)

    @property
    def chars(self) -> int:
        """Letters and digits read."""
        return sum(c.isalnum() for c in self.text)


def word(reader: str, view: View, shape: tuple[int, ...], view_box: Box, text: str,
         confidence: float, crop: Box | None = None) -> Word:
    """A Word, its picture corners found by mapping `view_box` back (a Ring's box is bent: its
    corners and the middles of its long sides, as a quadrilateral around them)."""
    x, y, w, h = view_box
    corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
    points = view.to_picture(shape, corners)
    if isinstance(view, Ring):
        middles = view.to_picture(shape, np.array([[x + w / 2, y], [x + w / 2, y + h]]))
        rect = cv2.minAreaRect(np.concatenate([points, middles]).astype(np.float32))
        points = cv2.boxPoints(rect).astype(np.float64)
    return Word(reader, view, (float(x), float(y), float(w), float(h)),
                tuple((float(a), float(b)) for a, b in points), text, float(confidence), crop)
