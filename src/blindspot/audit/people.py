"""The audit's people check: look for whole people left in an output meant to cover them.

With `--cover people` the output's people are filled boxes; blindspot's person detector (every
pass, as for photos) looks for people in the output, and one it finds with at least the audit's
`person_threshold` is a person left uncovered: a FAIL. Outputs not meant to cover people are
not checked (a visible person is what they were meant to show).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class PersonLeft:
    """A person found in the output."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output's displayed pixels
    score: float


@lru_cache(maxsize=1)
def _detector():  # noqa: ANN202 - a PeopleDetector, imported late: audit-only cost
    from ..detect.people import PeopleDetector
    return PeopleDetector()


def people_left(rgb: np.ndarray, frame: int, threshold: float) -> list[PersonLeft]:
    """The people the person detector finds in `rgb` (an output frame) from `threshold`."""
    found = _detector().detect(rgb)
    left = []
    for box, score in zip(found.boxes, found.scores.tolist(), strict=True):
        if score >= threshold:
            x1, y1, x2, y2 = (float(v) for v in box)
            left.append(PersonLeft(frame, (x1, y1, x2 - x1, y2 - y1), float(score)))
    return left
