"""`Photo`: the decoded pixels of one image file, upright, and nothing else of the file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Photo:
    """Frames as H×W×3 uint8 RGB arrays (several for animations and multi-page files)."""

    frames: list[np.ndarray]
    format: str  # Pillow's name of the source format: JPEG, PNG, WEBP, TIFF, BMP, GIF, HEIF
    alphas: list[np.ndarray | None] = field(default_factory=list)
    durations: list[int] | None = None  # milliseconds per frame, for animations
    loop: int | None = None
    grey: bool = False  # every frame is greyscale: written back as greyscale
    lossless: bool = False  # the source was lossless (PNG, lossless WebP, …)
    # What the source carried besides pixels: its names, for the per-file summary.
    metadata: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.alphas:
            self.alphas = [None] * len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].shape[:2]
        return w, h
