"""One interface over the detectors: `detect(rgb) -> Detections`, each box marked with its kind.

`KindsDetector` runs the detectors a run needs (faces; text, which finds plates and other text;
people) on the same picture and returns their boxes together, so every later stage (tracking,
redaction, the report, the review page, the audit) takes all kinds through one path.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..detections import Detections


class Detector(Protocol):
    def detect(self, rgb: np.ndarray) -> Detections: ...


class KindsDetector:
    """Faces from `faces` (kind face), text and plates from `text` (kinds as it says), people
    from `people` (kind person); each may be None (not looked for)."""

    def __init__(self, faces: Detector | None = None, text: Detector | None = None,
                 people: Detector | None = None) -> None:
        self.faces = faces
        self.text = text
        self.people = people

    def detect(self, rgb: np.ndarray) -> Detections:
        parts = []
        if self.faces is not None:
            parts.append(self.faces.detect(rgb).with_kind("face"))
        if self.text is not None:
            parts.append(self.text.detect(rgb))
        if self.people is not None:
            parts.append(self.people.detect(rgb).with_kind("person"))
        return Detections.concat(parts)
