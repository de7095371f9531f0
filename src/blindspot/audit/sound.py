"""The audit's sample-level check of sound: is any of the original's speech left as it was?

The voice check (`voice.py`) compares speaker prints span by span: a print of a whole span says
nothing of its last tenth of a second, and a muted output that lets one syllable through still
says "no speech left". This check compares the samples themselves, over the whole sound.

Both sounds are decoded to mono 16 kHz (`media.sound.read_audio`: a sound file, or a video's
soundtrack) and high-passed at `HIGHPASS` Hz (rumble, a microphone's pops and mains hum are no
voice, and a disguise may leave them as they were). The output is lined up with the original
(the lag, within ±`max_lag`; `SoundSettings` says how it is found), then both are cut into
20 ms frames over the length of the longer of the two: where the output ends early it is
silence (sound missing is no leak), and output past the original's end is compared with
silence.

A frame is a candidate when all of these hold:

- it lies in speech: the audit's own speech finder hears speech there in the original or in the
  output. It is the product's (Silero VAD), at `vad_scale` times the product's thresholds (read
  from `SpeechSettings()` when the check runs): it hears more than the product mutes.
- the original is audible there: `audible_db` over the original's noise floor (the
  `floor_percentile`-th percentile of its frame levels, digital silence left out), and
  `min_level_db` at least.
- the output still carries the original's waveform: their normalized correlation (Pearson, per
  frame, at the lag give or take `slack` samples) is `same_waveform` or more;
- at about its level: the output's frame is at most `level_drop_db` below the original's.

Candidates less than `merge_gap` apart make one stretch, and a stretch is a LEAK when at least
`sure_frames` of its frames correlate at `sure_waveform` or more (60 ms that are the original's
waveform beyond doubt). The check FAILs with each leak's start and end in seconds of the
original, never with what is said there. The level alone never makes a leak: a disguised
voice is as loud as the original, but another waveform.

Why two thresholds, measured on the shared voice corpus (read speech, 16 kHz) through the
product's own MP3, AAC and Ogg outputs: the original's samples left in an output correlate at
0.95 and more frame by frame (MP3 at 128 kbit/s: 99 % of frames from 0.79; through 12 kbit/s
Opus, 76 % of frames from 0.8), while a disguised voice correlates at 0.06 in the median but
with 1 to 2 % of its frames from 0.5 and runs of up to 7 such frames (1 frame in 1,000 from
0.8): one frame from 0.5 failed 31 of 48 disguised outputs, two frames in a row from 0.8 one in
60; three frames from 0.8 in a stretch failed none of 168 disguised outputs of 32 clips (nor
any of 120 disguises of the tests' clip), and found 215 of 216 leaks of 200 ms pasted into
muted outputs (the one missed: through 12 kbit/s Opus).

Without the original there is nothing to compare: `check_sound(output)` says only where the
audit's speech finder hears speech in the output where it is audible (a disguised voice is
speech too).

Memory stays flat: both files are streamed twice (the lag and the speech, then the frames), and
three numbers per frame of 20 ms are kept (about 13 MB for six hours). A 10-minute sound takes
about 20 s on one core (the speech finder, run on both). Only the two files of one run are
compared; nothing of either is written anywhere.

Over 400 lines, on purpose: the speech-left check streams both files through one filter graph in
step, frame by frame; its pieces share that stream's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from ..audio.speech import RATE, Span, SpeechDetector, SpeechSettings
from ..media.sound import read_audio

HIGHPASS = 100  # Hz: what lies below is compared neither in the lag nor in the frames
QUIET = 1e-7  # mean square (-70 dB full scale): a piece this quiet gives the lag no vote
SILENT_DB = -100.0  # frames at or under this level are digital silence (a muted stretch)


@dataclass(frozen=True)
class SoundSettings:
    """The sample-level check's rule (module docstring, with what it was measured on)."""

    frame: float = 0.02  # seconds per frame compared
    max_lag: float = 0.1  # the output may lag or lead the original by up to this many seconds
    # The lag: each `lag_block` seconds of the output that hold sound vote with their
    # normalized correlation with the original at each shift. A shift other than 0 must win
    # over 0 by `lag_evidence` votes (one piece matching in full) and by `lag_share` of the
    # pieces that voted: where nothing of the original is left (a disguise), the best of 3,201
    # shifts wins by chance, by up to 7 % of the votes on the dev clips, and picking it only
    # lines up what resembles the original most.
    lag_block: float = 0.1
    lag_evidence: float = 1.0
    lag_share: float = 0.2
    # Each frame's correlation is the best within this many samples (at 16 kHz) of the lag
    # found for the whole file: resampling and lossy codecs smear the timing by a sample or two.
    slack: int = 1
    # The audit's speech finder runs at this fraction of the product's threshold and
    # neg_threshold (SpeechSettings() at run time; its other settings as they are).
    vad_scale: float = 0.5
    same_waveform: float = 0.5  # a frame correlating this well may be the original's
    # A stretch of such frames is a leak when at least `sure_frames` of them correlate at
    # `sure_waveform` or more (module docstring).
    sure_waveform: float = 0.8
    sure_frames: int = 3
    level_drop_db: float = 6.0  # the output's frame at most this far below the original's
    audible_db: float = 10.0  # the original's frame at least this far over its noise floor
    floor_percentile: float = 10.0  # the noise floor: this percentile of the frame levels
    min_level_db: float = -80.0  # and at least this loud (dB full scale)
    # Candidates less than this many seconds apart make one stretch: a syllable's length. At
    # 0.1 s a planted leak whose audible frames lay 0.14 s apart, around a quiet stretch, made
    # two stretches of too few sure frames each and PASSed (one held-out clip of 37, Opus). On
    # 38 tune clips as WAV and MP3, 0.2 s failed no mute or disguise output (76 of each) and
    # every planted leak (72), as 0.1 s did.
    merge_gap: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.vad_scale <= 1.0:
            raise ValueError(f"vad_scale must lie in (0, 1], not {self.vad_scale}")
        if not 0.0 < self.same_waveform < 1.0:
            raise ValueError(f"same_waveform must lie between 0 and 1, not "
                             f"{self.same_waveform}")
        if not self.same_waveform <= self.sure_waveform < 1.0 or self.sure_frames < 1:
            raise ValueError("sure_waveform must lie between same_waveform and 1, and "
                             "sure_frames be 1 or more")
        if round(self.frame * RATE) < 16 or self.max_lag < 0 or self.slack < 0:
            raise ValueError("frame must be 1 ms or more, max_lag and slack 0 or more")


class SoundLeak(NamedTuple):
    """A stretch of the original's speech left as it was in the output (seconds)."""

    start: float
    end: float


@dataclass(frozen=True)
class SoundCheck:
    """The sample-level check of one output (with its original, or without)."""

    original_given: bool
    duration: float  # seconds compared (the longer of the two; the output's without original)
    # Where the audit's speech finder hears speech: in the original or the output (seconds of
    # the original); without the original, in the output.
    speech: tuple[Span, ...]
    leaks: tuple[SoundLeak, ...] = ()  # always empty without the original
    lag: float = 0.0  # seconds the output's sound comes after the original's (negative: before)
    threshold: float = 0.0  # the audit's speech finder's threshold

    @property
    def speech_seconds(self) -> float:
        return sum(s.duration for s in self.speech)

    @property
    def leak_seconds(self) -> float:
        return sum(end - start for start, end in self.leaks)

    @property
    def passed(self) -> bool:
        return not self.leaks


def audit_speech_settings(scale: float = SoundSettings.vad_scale) -> SpeechSettings:
    """The audit's speech finder: the product's, at `scale` times its thresholds."""
    product = SpeechSettings()
    return replace(product, threshold=product.threshold * scale,
                   neg_threshold=product.neg_threshold * scale, weak=product.weak * scale)


def check_sound(output: str | Path, original: str | Path | None = None,
                settings: SoundSettings | None = None) -> SoundCheck | None:
    """The sample-level check of the sound of `output` (a sound file or a video) against
    `original`'s. Without `original`: only where the audit's finder hears speech in the
    output. None when there is no sound to check (a video without sound; an original without
    sound)."""
    s = settings or SoundSettings()
    finder = SpeechDetector(audit_speech_settings(s.vad_scale))
    if original is None:
        return _speech_left(Path(output), finder, s)
    output, original = Path(output), Path(original)
    fs = round(s.frame * RATE)
    block = fs * 500  # 10 s of 20 ms frames
    # Pass 1: the lag (blocks of the output against the original around them), and the
    # speech in both.
    streams = finder.stream(), finder.stream()
    margin = round(s.max_lag * RATE)
    pair = _Pair(output, original, block, margin, streams[1].push, streams[0].push)
    votes, voters = np.zeros(2 * margin + 1), 0
    for _, b, w in pair:
        more, n = _lag_votes(b, w, round(s.lag_block * RATE))
        votes += more
        voters += n
    lengths = pair.lengths[::-1]  # (original, output)
    if not lengths[0]:
        return None
    best = int(np.argmax(votes))
    # votes[k]: the output's sound k - margin samples before the original's (see _lag_votes)
    lead = votes[best] - votes[margin]
    lag = margin - best if lead >= max(s.lag_evidence, s.lag_share * voters) else 0
    heard = [streams[0].finish(lengths[0] / RATE)]
    if lengths[1]:
        heard.append([Span(x.start - lag / RATE, x.end - lag / RATE)
                      for x in streams[1].finish(lengths[1] / RATE)])
    # Pass 2: the frames.
    pair = _Pair(original, output, block, abs(lag) + s.slack)
    levels, out_levels, corr = [], [], []
    for _, a, w in pair:
        level, out_level, c = _frames(a, w, pair.margin + lag, s.slack, fs)
        levels.append(level)
        out_levels.append(out_level)
        corr.append(c)
    total = max(lengths)
    n = -(-total // fs)
    level, out_level, c = (np.concatenate(x)[:n] for x in (levels, out_levels, corr))
    duration = total / RATE
    speech = _union([x for spans in heard for x in spans], duration)
    in_speech = np.zeros(n, bool)
    for x in speech:
        in_speech[int(x.start / s.frame):int(np.ceil(x.end / s.frame))] = True
    audible = _audible(level, level[:-(-lengths[0] // fs)], s)
    candidates = (in_speech & audible
                  & (c >= s.same_waveform) & (out_level >= level - s.level_drop_db))
    return SoundCheck(True, duration, tuple(speech), _stretches(candidates, c, s, duration),
                      lag / RATE, finder.settings.threshold)


def _speech_left(output: Path, finder: SpeechDetector, s: SoundSettings) -> SoundCheck | None:
    """Without the original: the spans where the audit's finder hears speech in the output and
    the output is audible (`_audible`, in `sure_frames` frames at least: a muted stretch's edge
    against the room's noise makes the finder at its low threshold hear speech, and there is
    nothing there)."""
    stream, lengths, fs = finder.stream(), [0], round(s.frame * RATE)
    levels = []
    for block in _blocks(_highpassed(_watched(read_audio(output, RATE), lengths, 0,
                                              stream.push)), fs * 500):
        if len(block) % fs:
            block = np.concatenate([block, np.zeros(fs - len(block) % fs, np.float32)])
        levels.append(_db(block.reshape(-1, fs).astype(np.float64)))
    if not lengths[0]:
        return None
    duration = lengths[0] / RATE
    level = np.concatenate(levels)
    audible = _audible(level, level, s)
    heard = [x for x in stream.finish(duration)
             if audible[int(x.start / s.frame):int(np.ceil(x.end / s.frame))].sum()
             >= s.sure_frames]
    return SoundCheck(False, duration, tuple(heard), threshold=finder.settings.threshold)


def _audible(level: np.ndarray, own: np.ndarray, s: SoundSettings) -> np.ndarray:
    """Which frames of `level` (dB) are audible: `audible_db` over the noise floor of `own`
    (its `floor_percentile`-th percentile, digital silence left out) and `min_level_db` at
    least."""
    live = own[own > SILENT_DB]
    floor = float(np.percentile(live, s.floor_percentile)) if len(live) else SILENT_DB
    return level >= max(floor + s.audible_db, s.min_level_db)


class _Pair:
    """Two sounds streamed side by side, high-passed (`_highpassed`): iterating gives
    (start, x, w) for each block, `x` the samples [start, start + block) of the `fixed` one and
    `w` the samples [start - margin, start + block + margin) of the `moving` one, zeros outside
    the sound, over the length of the longer of the two. `lengths` counts the samples of each
    read so far (fixed, moving); `on_fixed` and `on_moving` see each one's samples as they are
    read, before the filter."""

    def __init__(self, fixed: Path, moving: Path, block: int, margin: int,
                 on_fixed: Callable[[np.ndarray], None] | None = None,
                 on_moving: Callable[[np.ndarray], None] | None = None) -> None:
        self.block, self.margin = block, margin
        self.lengths = [0, 0]
        self._sources = (
            _highpassed(_watched(read_audio(fixed, RATE), self.lengths, 0, on_fixed)),
            _highpassed(_watched(read_audio(moving, RATE), self.lengths, 1, on_moving)))

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        block, margin = self.block, self.margin
        fixed = _blocks(self._sources[0], block)
        moving = _Buffer(self._sources[1])
        start = 0
        while True:
            x = next(fixed, None)
            moving.fill(start + block + margin)
            if x is None and start >= moving.end:
                return
            if x is None:
                x = np.zeros(block, np.float32)
            elif len(x) < block:
                x = np.concatenate([x, np.zeros(block - len(x), np.float32)])
            yield start, x, moving.window(start - margin, start + block + margin)
            moving.drop(start + block - margin)
            start += block


def _watched(chunks: Iterator[np.ndarray], lengths: list[int], index: int,
             callback: Callable[[np.ndarray], None] | None) -> Iterator[np.ndarray]:
    for chunk in chunks:
        lengths[index] += len(chunk)
        if callback is not None:
            callback(chunk)
        yield chunk


def _highpassed(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """`chunks` (mono, RATE) through a 4-pole high-pass at `HIGHPASS` Hz (FFmpeg's `highpass`
    twice, through PyAV), as many samples out as in. Rumble, wind and mains hum are no voice:
    a disguise may leave them as they were (or turned over) and they must not pass for the
    original's speech, in the lag or in a frame."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=RATE, layout="mono",
                               time_base=Fraction(1, RATE))
    first = graph.add("highpass", f"f={HIGHPASS}:poles=2")
    second = graph.add("highpass", f"f={HIGHPASS}:poles=2")
    sink = graph.add("abuffersink")
    source.link_to(first)
    first.link_to(second)
    second.link_to(sink)
    graph.configure()
    pts = 0
    for chunk in chunks:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk, np.float32)[None],
                                           format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, pts, Fraction(1, RATE)
        pts += len(chunk)
        graph.push(frame)
        yield from _pulled(graph)
    graph.push(None)
    yield from _pulled(graph)


def _pulled(graph: av.filter.Graph) -> Iterator[np.ndarray]:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        yield frame.to_ndarray().reshape(-1).astype(np.float32)


def _blocks(chunks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """`chunks` re-cut into blocks of `size` samples (the last one shorter)."""
    parts, n = [], 0
    for chunk in chunks:
        parts.append(chunk)
        n += len(chunk)
        if n >= size:
            joined = np.concatenate(parts)
            whole = len(joined) // size * size
            yield from (joined[i:i + size] for i in range(0, whole, size))
            parts, n = [joined[whole:]], len(joined) - whole
    if n:
        yield np.concatenate(parts)


class _Buffer:
    """The samples of a stream from `begin` to `end`, read on demand."""

    def __init__(self, chunks: Iterator[np.ndarray]) -> None:
        self._chunks = chunks
        self.samples = np.zeros(0, np.float32)
        self.begin = self.end = 0
        self.done = False

    def fill(self, until: int) -> None:
        parts = [self.samples]
        while self.end < until and not self.done:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.done = True
                break
            parts.append(chunk)
            self.end += len(chunk)
        if len(parts) > 1:
            self.samples = np.concatenate(parts)

    def window(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b), zeros where the stream has none (or they were dropped)."""
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, self.begin), min(b, self.end)
        if lo < hi:
            out[lo - a:hi - a] = self.samples[lo - self.begin:hi - self.begin]
        return out

    def drop(self, before: int) -> None:
        if before > self.begin:
            cut = min(before, self.end) - self.begin
            self.samples = self.samples[cut:]
            self.begin += cut


def _lag_votes(b: np.ndarray, w: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """For each shift k = 0 … len(w) - len(b): the sum, over the pieces of `size` samples of
    `b` that hold sound, of their normalized correlation with `w` at k (piece i against
    w[i·size + k : (i + 1)·size + k]). Each piece is normalized by the energy of the very
    samples it meets: a stretch of the original left in a muted output votes for its own
    place, not for a louder neighbour that resembles it (a decaying vowel correlates better
    with its louder self one pitch period earlier than with itself). Also returns how many
    pieces voted."""
    shifts = len(w) - len(b) + 1
    pieces = len(b) // size
    if not pieces:
        return np.zeros(shifts), 0
    x = b[:pieces * size].reshape(pieces, size).astype(np.float64)
    energy = np.square(x).sum(axis=1)
    sounding = energy >= size * QUIET
    if not sounding.any():
        return np.zeros(shifts), 0
    x, energy = x[sounding], energy[sounding]
    starts = np.flatnonzero(sounding) * size
    y = w.astype(np.float64)[starts[:, None] + np.arange(size + shifts - 1)[None, :]]
    n = 1 << int(size + y.shape[1]).bit_length()
    products = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n)), n)[:, :shifts]
    cumulative = np.concatenate([np.zeros((len(y), 1)), np.cumsum(np.square(y), axis=1)],
                                axis=1)
    met = cumulative[:, size:size + shifts] - cumulative[:, :shifts]
    denominator = np.sqrt(met * energy[:, None])
    votes = np.divide(products, denominator, out=np.zeros_like(products),
                      where=denominator > size * QUIET)
    return votes.sum(axis=0), len(x)


def _frames(a: np.ndarray, w: np.ndarray, at: int, slack: int, fs: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame of `fs` samples of `a`: its level (dB), the level of `w` lined up with it
    (from `at`) and their best normalized correlation within `slack` samples of `at`."""
    frames = len(a) // fs
    x = a.reshape(frames, fs).astype(np.float64)
    level = _db(x)
    x = x - x.mean(axis=1, keepdims=True)
    xx = np.square(x).sum(axis=1)
    best = np.full(frames, -1.0)
    out_level = level
    for k in range(-slack, slack + 1):
        y = w[at + k:at + k + len(a)].reshape(frames, fs).astype(np.float64)
        if k == 0:
            out_level = _db(y)
        y = y - y.mean(axis=1, keepdims=True)
        denominator = np.sqrt(xx * np.square(y).sum(axis=1))
        c = np.divide((x * y).sum(axis=1), denominator, out=np.zeros(frames),
                      where=denominator > 1e-20)
        best = np.maximum(best, c)
    return level.astype(np.float32), out_level.astype(np.float32), best.astype(np.float32)


def _db(frames: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(np.square(frames).mean(axis=1), 1e-12))


def _union(spans: list[Span], duration: float) -> list[Span]:
    """`spans` merged where they overlap, clipped to [0, `duration`]."""
    out: list[Span] = []
    for x in sorted(spans, key=lambda x: x.start):
        start, end = max(0.0, x.start), min(duration, x.end)
        if end <= start:
            continue
        if out and start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, end))
        else:
            out.append(Span(start, end))
    return out


def _stretches(candidates: np.ndarray, corr: np.ndarray, s: SoundSettings, duration: float
               ) -> tuple[SoundLeak, ...]:
    """The candidate frames merged into stretches (frames less than `merge_gap` apart join),
    those with at least `sure_frames` frames at `sure_waveform` or more: the leaks."""
    groups: list[list[int]] = []
    gap = s.merge_gap / s.frame
    for i in np.flatnonzero(candidates).tolist():
        if groups and i - groups[-1][-1] < gap:
            groups[-1].append(i)
        else:
            groups.append([i])
    return tuple(SoundLeak(round(g[0] * s.frame, 3), round(min(duration, (g[-1] + 1) * s.frame), 3))
                 for g in groups if int((corr[g] >= s.sure_waveform).sum()) >= s.sure_frames)
