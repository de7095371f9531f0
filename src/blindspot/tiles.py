"""Overlapping tiles over an image, for detecting small faces at an upscaled resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    w: int
    h: int


def _starts(length: int, size: int, overlap: int) -> list[int]:
    if length <= size:
        return [0]
    count = math.ceil((length - overlap) / (size - overlap))
    step = (length - size) / (count - 1)
    return [round(i * step) for i in range(count)]


def tile_grid(width: int, height: int, size: int, overlap: int) -> list[Tile]:
    """Tiles of at most `size`×`size` px covering the whole image, neighbours sharing at least
    `overlap` px, so any face no larger than `overlap` lies whole inside at least one tile."""
    if size <= overlap:
        raise ValueError("tile size must exceed the overlap")
    tiles = []
    for y in _starts(height, size, overlap):
        for x in _starts(width, size, overlap):
            tiles.append(Tile(x, y, min(size, width - x), min(size, height - y)))
    return tiles
