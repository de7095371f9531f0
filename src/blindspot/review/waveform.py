"""A sound's waveform for the review page: the lowest and highest level in each of (at most)
`BUCKETS` equal stretches of its first audio stream, mixed to mono.

The sound is decoded once, in chunks, at `RATE` Hz (`media.sound.read_audio`); each chunk is
reduced to the levels of blocks of samples as it comes, and when the blocks grow too many,
neighbours are joined (blocks twice as long): memory stays flat however long the sound, and
no length is taken on trust from the container. The page draws the levels; no sample leaves
the server this way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..audio.speech import RATE  # the speech finder's rate: both count the same samples

BUCKETS = 1_600  # levels drawn across the page (about one per screen pixel)
FIRST_BLOCK = 16  # samples per block at first (1 ms); doubled whenever they grow too many
MAX_BLOCKS = 8 * BUCKETS  # blocks kept before neighbours are joined
_COMPACT = 256  # block arrays kept before they are joined into one


@dataclass
class Waveform:
    """Levels (-1…1) of `len(low)` equal stretches of a sound of `samples` samples at `rate`."""

    low: np.ndarray  # float32, the lowest level of each stretch
    high: np.ndarray  # float32, the highest
    samples: int
    rate: int = RATE

    @property
    def duration(self) -> float:
        return self.samples / self.rate

    def to_json(self) -> dict:
        """Levels as whole numbers -1000…1000 (small JSON), and the sound's length."""
        return {"low": np.round(self.low * 1000).astype(int).tolist(),
                "high": np.round(self.high * 1000).astype(int).tolist(),
                "duration": round(self.duration, 3)}


class Peaks:
    """Collects the levels of a sound pushed chunk by chunk: blocks of `block` samples each,
    `MAX_BLOCKS` at most, and the block being filled."""

    def __init__(self, buckets: int = BUCKETS, max_blocks: int = MAX_BLOCKS) -> None:
        self.buckets = buckets
        self.max_blocks = max(2 * buckets, max_blocks)
        self.block = FIRST_BLOCK
        self.samples = 0
        self._low: list[np.ndarray] = []
        self._high: list[np.ndarray] = []
        self._count = 0  # blocks in _low
        self._part: tuple[float, float, int] | None = None  # low, high, samples of the next

    def push(self, chunk: np.ndarray) -> None:
        x = np.asarray(chunk, np.float32).reshape(-1)
        self.samples += len(x)
        if self._part is not None and len(x):  # fill the block begun
            low, high, n = self._part
            head, x = x[:self.block - n], x[self.block - n:]
            low, high, n = min(low, head.min()), max(high, head.max()), n + len(head)
            self._part = (low, high, n)
            if n == self.block:
                self._add(np.array([low], np.float32), np.array([high], np.float32))
                self._part = None
        whole = len(x) // self.block * self.block
        if whole:
            blocks = x[:whole].reshape(-1, self.block)
            self._add(blocks.min(axis=1), blocks.max(axis=1))
        if whole < len(x):
            tail = x[whole:]
            self._part = (float(tail.min()), float(tail.max()), len(tail))
        while self._count > self.max_blocks:
            self._coarsen()

    def _add(self, low: np.ndarray, high: np.ndarray) -> None:
        self._low.append(low)
        self._high.append(high)
        self._count += len(low)
        if len(self._low) > _COMPACT:
            self._low, self._high = [np.concatenate(self._low)], [np.concatenate(self._high)]

    def _coarsen(self) -> None:
        """Blocks twice as long: each pair joined (an odd last one begins the next block)."""
        low, high = np.concatenate(self._low), np.concatenate(self._high)
        if len(low) % 2:
            last = (float(low[-1]), float(high[-1]), self.block)
            if self._part is not None:
                part_low, part_high, n = self._part
                last = (min(last[0], part_low), max(last[1], part_high), last[2] + n)
            self._part = last
            low, high = low[:-1], high[:-1]
        self._low = [low.reshape(-1, 2).min(axis=1)]
        self._high = [high.reshape(-1, 2).max(axis=1)]
        self._count = len(self._low[0])
        self.block *= 2

    def finish(self) -> Waveform:
        low, high = list(self._low), list(self._high)
        if self._part is not None:
            low.append(np.array([self._part[0]], np.float32))
            high.append(np.array([self._part[1]], np.float32))
        lows = np.concatenate(low) if low else np.zeros(0, np.float32)
        highs = np.concatenate(high) if high else np.zeros(0, np.float32)
        if len(lows) > self.buckets:  # join neighbouring blocks into `buckets` stretches
            starts = np.linspace(0, len(lows), self.buckets + 1).astype(np.int64)[:-1]
            lows = np.minimum.reduceat(lows, starts)
            highs = np.maximum.reduceat(highs, starts)
        return Waveform(np.clip(lows, -1, 1).astype(np.float32),
                        np.clip(highs, -1, 1).astype(np.float32), self.samples)


def waveform(chunks: Iterable[np.ndarray], buckets: int = BUCKETS) -> Waveform:
    """The waveform of a sound given as mono chunks at `RATE` Hz (`read_audio(path, RATE)`)."""
    peaks = Peaks(buckets)
    for chunk in chunks:
        peaks.push(chunk)
    return peaks.finish()
