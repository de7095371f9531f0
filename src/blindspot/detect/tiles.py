"""Overlapping tiles over an image, and resizing, for detecting small faces and text at an
upscaled resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    w: int
    h: int


def _spans(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of the fewest equal spans of at most `size` covering `length`."""
    if length <= size:
        return [(0, length)]
    count = math.ceil((length - overlap) / (size - overlap))
    span = min(size, math.ceil((length + (count - 1) * overlap) / count))
    step = (length - span) / (count - 1)
    return [(round(i * step), span) for i in range(count)]


def tile_grid(width: int, height: int, size: int, overlap: int) -> list[Tile]:
    """Tiles of at most `size`×`size` px covering the whole image, neighbours sharing at least
    `overlap` px, so any face no larger than `overlap` lies whole inside at least one tile."""
    if size <= overlap:
        raise ValueError("tile size must exceed the overlap")
    return [Tile(x, y, w, h) for y, h in _spans(height, size, overlap)
            for x, w in _spans(width, size, overlap)]


def resize(rgb: np.ndarray, fx: float, fy: float | None = None) -> np.ndarray:
    """`rgb` scaled by `fx` in width and `fy` (default: `fx`) in height."""
    fy = fx if fy is None else fy
    h, w = rgb.shape[:2]
    size = (max(1, round(w * fx)), max(1, round(h * fy)))
    if size == (w, h):
        return rgb
    interp = cv2.INTER_LINEAR if fx * fy > 1 else cv2.INTER_AREA
    return cv2.resize(rgb, size, interpolation=interp)
