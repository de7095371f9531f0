"""One interface over the detectors: `detect(rgb) -> Detections`, each box marked with its kind.

`KindsDetector` runs the detectors a run needs (faces; text, which finds plates and other text;
people) on the same picture and returns their boxes together, so every later stage (tracking,
redaction, the report, the review page, the audit) takes all kinds through one path. Its weak
face boxes pass `FaceSupport` (support.py): only those something supports are kept.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..detections import Detections
from .faces import FaceDetector
from .support import FaceSupport


class Detector(Protocol):
    def detect(self, rgb: np.ndarray) -> Detections: ...


class KindsDetector:
    """Faces from `faces` (kind face), text and plates from `text` (kinds as it says), people
    from `people` (kind person); each may be None (not looked for). `support` judges the weak
    face boxes (None: all kept), given the person boxes when `people` runs anyway: it drops
    those nothing supports, or with `tentative` (video) marks them for tracking to judge."""

    def __init__(self, faces: FaceDetector | None = None, text: Detector | None = None,
                 people: Detector | None = None, support: FaceSupport | None = None,
                 tentative: bool = False) -> None:
        self.faces = faces
        self.text = text
        self.people = people
        self.support = support
        self.tentative = tentative

    def detect(self, rgb: np.ndarray, near: Detections | None = None,
               before: np.ndarray | None = None) -> Detections:
        """Every kind's boxes in `rgb`. `near` and `before`: what the previous detection run of
        a video found, and its frame (the face detector looks closely around those faces and
        where the picture changed: `DetectorSettings.focus_*`)."""
        faces = people = None
        # The previous run's faces: those it kept, not those it marked tentative.
        faces_near = None if near is None else near.of_kind("face").supported()
        if self.faces is not None:
            faces = self.faces.detect(rgb, faces_near, before).with_kind("face")
        if self.people is not None:
            people = self.people.detect(rgb).with_kind("person")
        if faces is not None and self.support is not None:
            judge = self.support.mark if self.tentative else self.support.filter
            faces = judge(rgb, faces, people, faces_near)
        text = self.text.detect(rgb) if self.text is not None else None
        return Detections.concat([d for d in (faces, text, people) if d is not None])
