"""The audit's voice check: does the output's voice still name the original's speaker?

With the original given, its speech spans are found (Silero VAD, as `--voice` finds them) and,
span by span, the original's speech and the output's sound over the same span are embedded with
a speaker recognizer (`audio.speaker`, GE2E) and compared (cosine). A span where the output
still holds speech (the VAD finds some in it) and the two are at least `threshold` alike is a
match: the voice identifies the speaker as well as two recordings of one person do, and the
audit FAILs; unless the output's print is at least as alike to one of blindspot's synthetic
voices (`revoice.voice_prints`, with the voice extra installed): a revoiced span is another
voice, which scores 0.6 in the mean (up to 0.75) against any real speaker. A muted span holds
no speech and is not compared. Spans shorter than `min_seconds`
are too short for a reliable print; when no span is that long, all speech is compared at once.

Only the two files of one run are compared; the prints are dropped at the end of the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.speech import RATE, Span
from ..audio.voices import find_speech
from ..media.sound import read_audio

SHORTEST = 0.5  # seconds: less sound than this gives no print at all


@dataclass(frozen=True)
class VoiceMatch:
    """One span of the original's speech compared with the output's sound over it."""

    start: float  # seconds
    end: float
    similarity: float  # cosine between the two speaker prints
    match: bool  # similarity ≥ the threshold: the voice still identifies the speaker


@dataclass(frozen=True)
class VoiceCheck:
    """The speaker check of one output."""

    speech_seconds: float  # speech in the original
    left_seconds: float  # of it, where the output still holds speech
    compared: tuple[VoiceMatch, ...]  # the spans compared (none: no speech left)

    @property
    def matches(self) -> list[VoiceMatch]:
        return [m for m in self.compared if m.match]

    @property
    def max_similarity(self) -> float | None:
        return max((m.similarity for m in self.compared), default=None)


def check_voice(output: Path, original: Path, threshold: float, min_seconds: float
                ) -> VoiceCheck | None:
    """The speaker check of `output` against `original`; None when the original has no speech."""
    from ..audio.speaker import embed, similarity
    spoken = find_speech(original).spans
    if not spoken:
        return None
    left = _overlaps(spoken, find_speech(output).spans)
    groups = [[s] for s, kept in zip(spoken, left, strict=True)
              if kept > 0 and s.duration >= min_seconds]
    if not groups and sum(left) > 0:
        groups = [[s for s, kept in zip(spoken, left, strict=True) if kept > 0]]
    wanted = [s for group in groups for s in group]
    before, after = _cut(original, wanted), _cut(output, wanted)
    synthetic = _synthetic_prints() if groups else []
    compared = []
    for group in groups:
        try:
            a = embed(np.concatenate([before[s] for s in group]), RATE, min_seconds=SHORTEST)
            b = embed(np.concatenate([after[s] for s in group]), RATE, min_seconds=SHORTEST)
        except ValueError:  # too little sound for a print (or none: silence)
            continue
        sim = similarity(a, b)
        revoiced = max((similarity(b, p) for p in synthetic), default=-1.0)
        compared.append(VoiceMatch(group[0].start, group[-1].end, sim,
                                   sim >= threshold and sim > revoiced))
    return VoiceCheck(sum(s.duration for s in spoken), float(sum(left)), tuple(compared))


def _synthetic_prints() -> list[np.ndarray]:
    """The prints of blindspot's synthetic voices; none without the voice extra."""
    from ..errors import BlindspotError
    try:
        from ..audio.revoice import voice_prints
        return voice_prints()
    except BlindspotError:
        return []


def _overlaps(spans: list[Span], found: list[Span]) -> list[float]:
    """For each span of `spans`, the seconds of `found` inside it."""
    return [sum(max(0.0, min(s.end, f.end) - max(s.start, f.start)) for f in found)
            for s in spans]


def _cut(path: Path, spans: Iterable[Span]) -> dict[Span, np.ndarray]:
    """The samples (16 kHz mono) of `path`'s sound inside each span (spans apart, as speech
    detection gives them), read in one pass; only those are kept in memory."""
    spans = sorted(spans, key=lambda s: s.start)
    parts: dict[Span, list[np.ndarray]] = {s: [] for s in spans}
    position, first = 0, 0
    for chunk in read_audio(path, RATE):
        end = position + len(chunk)
        while first < len(spans) and round(spans[first].end * RATE) <= position:
            first += 1  # spans wholly before this chunk are done
        for s in spans[first:]:
            a, b = max(position, round(s.start * RATE)), min(end, round(s.end * RATE))
            if round(s.start * RATE) >= end:
                break  # this span and the later ones start after this chunk
            if a < b:
                parts[s].append(chunk[a - position:b - position])
        position = end
    return {s: np.concatenate(p) if p else np.zeros(0, np.float32) for s, p in parts.items()}
