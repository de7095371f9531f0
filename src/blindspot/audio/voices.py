"""What blindspot does to the voices of one video: find the speech, then keep, mute or disguise
it (`Options.voice`).

`find_speech(path)` decodes the first audio stream once (video packets are skipped), at 16 kHz
mono, through speech detection, and returns the speech spans (seconds from the sound's first
sample) and the sound's duration; memory stays flat however long the file. `editor(...)` makes
the `SpanEditor` that the render pass runs the sound through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..sound_io import read_audio
from .edit import SpanEditor
from .speech import RATE, Span, SpeechDetector


@dataclass
class Speech:
    """The speech found in a file's sound."""

    spans: list[Span] = field(default_factory=list)
    duration: float = 0.0  # seconds of sound (0: the file has none)


def find_speech(path: Path, detector: SpeechDetector | None = None) -> Speech:
    """The speech spans of the first audio stream of `path` (none: an empty Speech)."""
    stream = (detector or SpeechDetector()).stream()
    samples = 0
    for chunk in read_audio(path, RATE):
        stream.push(chunk)
        samples += len(chunk)
    if not samples:
        return Speech()
    duration = samples / RATE
    return Speech(stream.finish(duration), duration)


def editor(edits: list[tuple[Span, str]], rate: int) -> SpanEditor | None:
    """The editor of a sound at `rate` Hz that gives each span its edit (`keep`, `mute` or
    `disguise`; None when there is nothing to edit). A disguise draws its random voice once
    here: the same within one file, another in the next."""
    edits = [(span, voice) for span, voice in edits if voice != "keep"]
    if not edits:
        return None
    if all(voice == "mute" for _, voice in edits):
        return SpanEditor(edits, rate)
    from .disguise import DisguiseParams, disguise
    params = DisguiseParams.draw(np.random.default_rng())

    def transform(samples: np.ndarray, sample_rate: int) -> np.ndarray:
        return disguise(samples, sample_rate, params=params)

    return SpanEditor(edits, rate, transform)
