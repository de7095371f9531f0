"""Editing the sound where people speak: mute, disguise or revoice speech spans, keep the rest.

`SpanEditor` takes the decoded samples of one audio stream in order, as they arrive
(`push(samples, start)`: float32, channels × n, `start` the index of the first sample), and
returns edited samples in the same order, as many as it was given, so the timing (and lip
sync) never moves. Each span has its own edit:

- `mute`: the gain is 0 inside the span and ramps over `FADE` seconds on either side of it
  (no click; spans come padded from speech detection, so no syllable leaks in the ramp).
- `disguise` and `revoice`: the samples are collected until the span ends (or `MAX_PIECE`
  seconds, for very long speech), replaced at once by the edit's transform (`transforms`:
  a disguise of the piece, the same random voice for the whole file; or the new voice's
  words over the piece), and crossfaded into the untouched sound over `FADE` seconds. The
  output then lags the input by up to one piece; `finish()` returns the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .speech import Span

FADE = 0.02  # seconds of ramp at each edge of an edited span
MAX_PIECE = 30.0  # seconds of speech transformed at once, at most
EDITS = ("mute", "disguise", "revoice")
REPLACED = ("disguise", "revoice")  # edits whose transform replaces the sound

# (channels × n samples, rate, index of the first sample) → the same shape: what the sound
# becomes inside the edit's spans.
Transform = Callable[[np.ndarray, int, int], np.ndarray]


class SpanEditor:
    """Edits one audio stream at `rate` Hz: each span (seconds from its first sample) as its
    edit says (`transforms` holds one for each edit in REPLACED that is used), everything
    else as it is."""

    def __init__(self, spans: Sequence[tuple[Span, str]], rate: int,
                 transforms: Mapping[str, Transform] | None = None) -> None:
        fade = max(1, round(FADE * rate))
        self.rate, self.fade, self.transforms = rate, fade, dict(transforms or {})
        # Sample ranges [a, b) of the spans, with room for the ramps outside them.
        self.ranges: list[tuple[int, int, str]] = []
        for span, edit in spans:
            if edit not in EDITS:
                raise ValueError(f"edit must be one of {', '.join(EDITS)}, not {edit!r}")
            if span.end > span.start:
                # The ramps lie outside the span, also before the first sample (a span from
                # 0 is edited in full from sample 0) and after the last.
                self.ranges.append((round(span.start * rate) - fade,
                                    round(span.end * rate) + fade, edit))
        for edit in {edit for *_, edit in self.ranges if edit in REPLACED}:
            if edit not in self.transforms:
                raise ValueError(f"{edit} needs a transform")
        self.pending: list[np.ndarray] = []  # samples held back (disguise), in order
        self.pending_start = 0  # index of the first held-back sample
        self.held = 0

    def push(self, samples: np.ndarray, start: int) -> list[tuple[np.ndarray, int]]:
        """Edited samples ready to go out: a list of (channels × n float32, first index)."""
        samples = np.asarray(samples, np.float32)
        if not self.held:
            self.pending_start = start
        self.pending.append(samples)
        self.held += samples.shape[-1]
        end = self.pending_start + self.held
        # Hold back while a replaced span is still running (up to MAX_PIECE): it is
        # transformed as one piece once it has ended.
        running = [b for a, b, edit in self.ranges
                   if edit in REPLACED and a < end and b > end]
        if running and self.held < MAX_PIECE * self.rate:
            return []
        return self.finish()

    def finish(self) -> list[tuple[np.ndarray, int]]:
        """Whatever is still held back, edited."""
        if not self.held:
            return []
        start = self.pending_start
        piece = np.concatenate(self.pending, axis=-1)
        self.pending, self.held = [], 0
        keep, replaced = self._weights(start, piece.shape[-1])
        out = piece * keep[None, :]
        for edit, weight in replaced.items():
            if not weight.any():
                continue
            changed = np.asarray(self.transforms[edit](piece, self.rate, start), np.float32)
            if changed.shape != piece.shape:
                raise ValueError("the transform changed the number of samples")
            out += changed * weight[None, :]
        return [(out.astype(np.float32), start)]

    def _weights(self, start: int, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """For samples start…start+n-1: the weight of the sound as it is (0 inside every span,
        1 outside) and, for each edit in REPLACED, of its transform's sound (1 inside its spans,
        0 elsewhere), with linear ramps over `fade` samples at the edges of each span's range.
        Where spans overlap, mute wins, then the first of REPLACED."""
        index = np.arange(start, start + n, dtype=np.int64)
        keep = np.ones(n, np.float32)
        unmuted = np.ones(n, np.float32)  # 0 inside every muted span: mute wins an overlap
        inside = {edit: np.zeros(n, np.float32) for edit in REPLACED}
        for a, b, edit in self.ranges:
            if b <= start or a >= start + n:
                continue
            before = np.clip((a + self.fade - index) / self.fade, 0, 1)  # 1 before a
            after = np.clip((index - (b - self.fade)) / self.fade, 0, 1)  # 1 after b
            outside = np.maximum(before, after).astype(np.float32)
            keep = np.minimum(keep, outside)
            if edit in inside:
                inside[edit] = np.maximum(inside[edit], 1 - outside)
            else:
                unmuted = np.minimum(unmuted, outside)
        left = np.minimum(1 - keep, unmuted)  # the weight not yet given to a transform
        weights = {}
        for edit in REPLACED:
            weights[edit] = np.minimum(inside[edit], left)
            left = left - weights[edit]
        return keep, weights
