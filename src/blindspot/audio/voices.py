"""What blindspot does to the voices of one video or sound file: find the speech, then keep,
mute, disguise or revoice it (`Options.voice`).

`find_speech(path)` decodes the first audio stream once (video packets are skipped), at 16 kHz
mono, through speech detection, and returns the speech spans (seconds from the sound's first
sample) and the sound's duration; memory stays flat however long the file. For the spans to
revoice, `transcribe(path, edits)` decodes it once more and returns the lines the new voices
will say (`revoice.Line`). `editor(...)` makes the `SpanEditor` that the render pass runs the
sound through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..media.sound import read_audio
from .edit import SpanEditor, Transform
from .speech import RATE, Span, SpeechDetector

if TYPE_CHECKING:
    from .revoice import Line


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


@dataclass
class Voicing:
    """What the render does to a sound's speech: each span's edit, and for the spans to
    revoice, the lines the new voices say (`transcribe`)."""

    edits: list[tuple[Span, str]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    # Lines the new voice could not say in their time even at its fastest, compressed in
    # time to fit (counted once the render made them).
    squeezed: int = 0
    _revoicers: list = field(default_factory=list, repr=False)

    def editor(self, rate: int) -> SpanEditor | None:
        """The editor of the sound at `rate` Hz (None: nothing to edit)."""
        made = editor(self.edits, rate, self.lines)
        if made is not None and "revoice" in made.transforms:
            self._revoicers.append(made.transforms["revoice"])
        return made

    def count_squeezed(self) -> int:
        """`squeezed`, from the renders made so far."""
        self.squeezed = sum(r.squeezed for r in self._revoicers)
        return self.squeezed


def voicing(path: Path, edits: list[tuple[Span, str]],
            lines: list[Line] | None = None) -> Voicing:
    """The voicing of the sound of `path` for `edits`: where they revoice, `lines` when given
    (a reviewer's), else the transcription's."""
    return Voicing(edits, transcribe(path, edits) if lines is None else list(lines))


def transcribe(path: Path, edits: list[tuple[Span, str]]) -> list[Line]:
    """The lines the new voices say in the spans of `edits` to revoice (none: no work), with
    their speaker groups; spans in a language no voice speaks come back as lines to mute."""
    spans = [span for span, voice in edits if voice == "revoice"]
    if not spans:
        return []
    from .revoice import Transcriber, load
    transcriber = Transcriber(spans, load()[0])
    for chunk in read_audio(path, RATE):
        transcriber.push(chunk)
    return transcriber.finish()


def editor(edits: list[tuple[Span, str]], rate: int,
           lines: list[Line] | None = None) -> SpanEditor | None:
    """The editor of a sound at `rate` Hz that gives each span its edit (`keep`, `mute`,
    `disguise` or `revoice`, the last saying `lines`; None when there is nothing to edit). A
    disguise draws its random voice once here: the same within one file, another in the
    next."""
    edits = [(span, voice) for span, voice in edits if voice != "keep"]
    if not edits:
        return None
    used = {voice for _, voice in edits}
    transforms: dict[str, Transform] = {}
    if "disguise" in used:
        from .disguise import DisguiseParams, disguise
        params = DisguiseParams.draw(np.random.default_rng())

        def disguised(samples: np.ndarray, sample_rate: int, start: int) -> np.ndarray:
            return disguise(samples, sample_rate, params=params)

        transforms["disguise"] = disguised
    if "revoice" in used:
        from .revoice import Revoicer, load
        transforms["revoice"] = Revoicer(
            lines or [], [span for span, voice in edits if voice == "revoice"], rate, load()[1])
    return SpanEditor(edits, rate, transforms)
