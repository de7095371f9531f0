"""The audit's text check: read what text is left in an output, the way an attacker would.

blindspot's text detector finds text in the output (the anonymized picture: a covered plate is a
black rectangle, and the detector finds no text there); PP-OCRv4's recognizer reads each box.
A box is readable when the recognizer reads at least `min_chars` letters or digits with a
confidence of at least `min_confidence`; a readable string is plate-like by `plate_like`.
Readable text is reported; it is a FAIL only for what the output was meant to cover
(`--cover`): any readable text with "text", plate-like strings with "plates".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..detections import Detections


@dataclass(frozen=True)
class TextLeft:
    """Text read in the output."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output's displayed pixels
    text: str
    confidence: float
    plate_like: bool


@lru_cache(maxsize=1)
def _models():  # noqa: ANN202 - (TextDetector, TextReader), imported late: audit-only cost
    from ..detect.reading import TextReader
    from ..detect.text import TextDetector
    return TextDetector(), TextReader()


def read_left(rgb: np.ndarray, frame: int, min_confidence: float, min_chars: int
              ) -> list[TextLeft]:
    """The readable text in `rgb` (an output frame)."""
    from ..detect.reading import plate_like
    detector, reader = _models()
    found: Detections = detector.detect(rgb)
    if not len(found):
        return []
    left = []
    for box, (text, confidence) in zip(found.boxes, reader.read(rgb, found.boxes), strict=True):
        if confidence >= min_confidence and sum(c.isalnum() for c in text) >= min_chars:
            x1, y1, x2, y2 = (float(v) for v in box)
            left.append(TextLeft(frame, (x1, y1, x2 - x1, y2 - y1), text, float(confidence),
                                 plate_like(text)))
    return left


def failing(found: list[TextLeft], cover: tuple[str, ...]) -> list[TextLeft]:
    """The text of `found` that the output was meant to cover (`cover`, names of --cover)."""
    if "text" in cover:
        return list(found)
    if "plates" in cover:
        return [t for t in found if t.plate_like]
    return []
