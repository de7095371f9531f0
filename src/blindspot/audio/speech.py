"""Where people speak: the bundled Silero VAD model on ONNX Runtime, streamed.

A voice identifies a person as well as a face does, so the spans where someone speaks are what
blindspot mutes. `SpeechDetector().stream()` takes mono float32 samples in chunks of any length
(`push`) and keeps only the model's recurrent state and less than one window of samples, so hours
of audio run in flat memory; `finish` returns the spans, padded and merged. `speech_spans` does
the same for a whole array at any rate, mono or (channels, n).

How the model is driven (as silero-vad's own `OnnxWrapper` and `get_speech_timestamps` do, v6):
the audio at 16 kHz is cut into windows of 512 samples (32 ms); each window is fed with the 64
samples before it prepended (its context; zeros before the first window), the sample rate, and the
state the previous window returned (zeros at first); the model returns the probability that the
window is speech. A span opens at the first window scoring at least `threshold` and closes at the
first window of a run below `neg_threshold` lasting `min_silence`; shorter spans than
`min_speech` are dropped, but for a span the end of the stream cuts. The last partial window is
zero-padded.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass

import av
import numpy as np

from ..detect.onnx import load_model, session

MODEL_NAME = "silero-vad"
MODEL_FILE = "silero_vad.onnx"
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"

RATE = 16000
WINDOW = 512  # samples the model scores at once at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each window
STATE_SHAPE = (2, 1, 128)
SILENCE_DB = -90.0  # windows quieter than this are digital silence (or dither), not a floor


@dataclass(frozen=True)
class Span:
    """A stretch of time in seconds, [start, end)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SpeechSettings:
    """When the model's scores make speech, and how far around it is muted.

    Defaults lean to muting too much rather than letting a word through: a voice missed is an
    identity leaked, while a second of silence or noise muted costs nothing.
    """

    # A span opens at a window scoring at least `threshold` and stays open while the score
    # stays above `neg_threshold`. Far lower than silero's 0.5 / 0.35, for recall: the first
    # and last windows of a word cut by the edge of a recording, a quiet speaker and a slow,
    # drawn-out voice score between the two. Chosen on the tuning half of bench/sound.py's
    # scenes (a word of 0.15-0.4 s at the end of a recording: 9 of 666 loud frames missed at
    # 0.3 / 0.15, none at 0.2 / 0.1). The cost: of 6 s of synthetic organ notes, 1 s is taken
    # for speech (none of noise, tones or a chord).
    threshold: float = 0.2
    neg_threshold: float = 0.1
    # Spans shorter than this (before padding) are dropped. 0: none is, a lone "yes" or a name
    # is a voice too; silero drops spans under 0.25 s, and a span cut to 0.1 s by the end of a
    # recording was dropped here before (its last syllable passed unmuted).
    min_speech: float = 0.0
    # A span closes only after this much time scoring below `neg_threshold` (silero: 0.1 s).
    min_silence: float = 0.1
    # Each span is widened by this much on both sides. The quiet edges of words (unvoiced
    # onsets such as /s/, /f/, /h/, released stops, the decay and room echo after the last
    # syllable) score low and fall outside the model's spans; silero's own 30 ms lets them
    # through when the span is muted. Measured on 29 read-speech clips (LibriSpeech, CMU Arctic,
    # VCTK, VCC): voiced sound (20 dB over the clip's noise floor) outside the unpadded spans lay
    # within 0.15 s of a span, but for breaths and clicks at up to 0.42 s; 0.3 s covers the first
    # twice over and most of the second.
    pad: float = 0.3
    # Padded spans less than this apart are merged: a pause between phrases is muted too rather
    # than letting breaths and half-syllables through between two spans.
    merge_gap: float = 0.5
    # Before padding, each span grows over the audible sound that runs on from it (windows at
    # least `grow_db` over the stream's noise floor: the 10th-percentile level of its windows
    # that are not digital silence), up
    # to `grow` seconds each way: the model scores the quiet starts and ends of words (and a
    # sung or drawn-out voice) lower than their middles, while their level says they are
    # still sound. 0 s: off.
    grow: float = 1.0
    grow_db: float = 20.0
    # A span within `merge_gap` of the first or last sample reaches it: the start and end of
    # a recording are edges too (a clip cut from a longer one starts mid-breath). And audible
    # sound within `pad` of the first or last sample is muted as speech, up to `edges`
    # seconds from the edge (0: off), whatever the model says.
    edges: float = 1.0
    # A window scoring at least `weak` (but under `threshold`) is speech too where it is
    # audible (`grow_db` over the noise floor), grown over its audible run like a span: a
    # slow, drawn-out or sung voice scores 0.1-0.4 in its loudest windows, and lossy coding
    # moves those scores by a tenth. Quiet sound at these scores stays unmuted. 0: off.
    weak: float = 0.1
    # ONNX Runtime's intra-op threads; the model is tiny, one thread is fastest.
    threads: int = 1


def _load_model_bytes() -> bytes:
    return load_model(MODEL_FILE, MODEL_SHA256)


class SileroVAD:
    """One ONNX Runtime session of Silero VAD; `run` scores one window. The session holds no state
    of its own (the caller carries it), so one is shared by any number of streams."""

    def __init__(self, threads: int = 1) -> None:
        self.session = session(_load_model_bytes(), threads, "cpu")
        self._lock = threading.Lock()
        self._sr = np.array(RATE, np.int64)

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """The speech probability of `window` (CONTEXT + WINDOW samples, float32) and the next
        state."""
        feed = {"input": window.reshape(1, -1), "state": state, "sr": self._sr}
        with self._lock:
            prob, state = self.session.run(None, feed)
        return float(prob.reshape(-1)[0]), state


_models: dict[tuple[str, int], SileroVAD] = {}
_models_lock = threading.Lock()


def shared_model(threads: int = 1) -> SileroVAD:
    """The process's session of the model for `threads`, made on first use."""
    key = (MODEL_SHA256, threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = SileroVAD(threads)
        return model


class Resampler:
    """Mono float32 samples at `rate` to RATE, in chunks (FFmpeg's swresample through PyAV: a
    proper low-pass, and no delay: the output lines up with the input)."""

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, not {rate}")
        self.rate = rate
        self._resampler = (None if rate == RATE else
                           av.AudioResampler(format="flt", layout="mono", rate=RATE))

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(samples, np.float32).reshape(-1)
        if self._resampler is None or not len(samples):
            return samples
        frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
        frame.sample_rate = self.rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


class SpeechStream:
    """Speech in one audio stream, fed in order by `push`, closed by `finish`."""

    def __init__(self, model: SileroVAD, settings: SpeechSettings, rate: int = RATE) -> None:
        self._model = model
        self._settings = settings
        self._resampler = Resampler(rate)
        self._rate = rate
        self._state = np.zeros(STATE_SHAPE, np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)  # fewer than WINDOW samples not yet scored
        self._pushed = 0  # samples pushed, at `rate`
        self._windows = 0  # windows scored
        self._finished = False
        # The segmentation, in windows: the open span's first window, where a run of low scores
        # began inside it, and the closed spans (before padding).
        self._start: int | None = None
        self._quiet_from: int | None = None
        self._spans: list[tuple[int, int]] = []
        self._levels = array("f")  # each window's level, dB (4 bytes per 32 ms)
        self._weak = array("i")  # the windows scoring from `weak` to `threshold`
        self._min_silence = settings.min_silence * RATE / WINDOW
        self._min_speech = settings.min_speech * RATE / WINDOW

    def push(self, samples: np.ndarray) -> None:
        """Feed the next mono samples at the stream's rate (float, -1 to 1)."""
        if self._finished:
            raise RuntimeError("push after finish")
        samples = np.asarray(samples, np.float32).reshape(-1)
        if not np.isfinite(samples).all():
            # One NaN would poison the carried state: every window after it would score NaN,
            # that is never speech.
            samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        self._pushed += len(samples)
        self._score(self._resampler.push(samples))

    def finish(self, duration: float | None = None) -> list[Span]:
        """The speech spans, padded, merged and clipped to [0, `duration`] (default: the length
        of what was pushed)."""
        if duration is None:
            duration = self._pushed / self._rate
        if not self._finished:
            self._finished = True
            self._score(self._resampler.flush())
            if len(self._pending):  # the last partial window, zero-padded as silero does
                self._score(np.zeros(WINDOW - len(self._pending), np.float32))
            # A span still open at the end was cut by it: kept whatever its length, to the
            # last sample (the padding cannot reach past the end).
            if self._start is not None:
                self._spans.append((self._start, self._windows))
            self._start = None
        return self._padded(duration)

    def _score(self, samples: np.ndarray) -> None:
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) // WINDOW * WINDOW
        for i in range(0, whole, WINDOW):
            window = np.concatenate([self._context, samples[i:i + WINDOW]])
            prob, self._state = self._model.run(window, self._state)
            self._levels.append(_level(window[CONTEXT:]))
            self._context = window[-CONTEXT:]
            self._step(prob)
            self._windows += 1
        self._pending = samples[whole:].copy()

    def _step(self, prob: float) -> None:
        """silero's segmentation (`get_speech_timestamps_from_probs`, no maximum length), one
        window at a time."""
        s, i = self._settings, self._windows
        if s.weak and s.weak <= prob < s.threshold:
            self._weak.append(i)
        if prob >= s.threshold:
            self._quiet_from = None
            if self._start is None:
                self._start = i
            return
        if self._start is None or prob >= s.neg_threshold:
            return
        if self._quiet_from is None:
            self._quiet_from = i
        if i - self._quiet_from >= self._min_silence:
            if self._quiet_from - self._start > self._min_speech:
                self._spans.append((self._start, self._quiet_from))
            self._start = self._quiet_from = None

    def _grown(self) -> list[tuple[int, int]]:
        """The spans, each grown over the audible sound that runs on from it (`grow`), and the
        audible sound at the first and last samples as spans of their own (`edges`)."""
        s = self._settings
        if not self._levels or not (s.grow or s.edges or s.weak):
            return list(self._spans)
        levels = np.frombuffer(self._levels, np.float32)
        sound = levels[levels > SILENCE_DB]  # digital silence (a muted stretch) is no floor
        if not len(sound):
            return list(self._spans)
        loud = levels >= np.percentile(sound, 10) + s.grow_db
        most = round(s.grow * RATE / WINDOW)
        out = []
        weak = [(i, i + 1) for i in self._weak if loud[i]]
        for first, last in self._spans + weak:
            out.append((_run_back(loud, first, max(0, first - most)),
                        _run_on(loud, last, min(len(loud), last + most))))
        if s.edges:
            # The model's state starts empty and a word cut by the end is heard in part only:
            # at both edges it scores speech late or never. Audible sound within `pad` of an
            # edge is a span from the edge, over the sound that runs on from it.
            near = round(s.pad * RATE / WINDOW) + 1
            most = round(s.edges * RATE / WINDOW)
            head = np.nonzero(loud[:near])[0]
            if len(head):
                out.append((0, _run_on(loud, int(head[0]), min(len(loud), most))))
            tail = np.nonzero(loud[-near:])[0]
            if len(tail):
                last = len(loud) - near + int(tail[-1]) + 1
                out.append((_run_back(loud, last, max(0, len(loud) - most)), len(loud)))
        return sorted(out)

    def _padded(self, duration: float) -> list[Span]:
        s = self._settings
        out: list[Span] = []
        for first, last in self._grown():
            start = first * WINDOW / RATE - s.pad
            end = last * WINDOW / RATE + s.pad
            # The first and last samples are edges too: a span near them reaches them.
            start = 0.0 if start < s.merge_gap else start
            end = duration if end > duration - s.merge_gap else end
            if end <= start:
                continue
            if out and start - out[-1].end < s.merge_gap:
                out[-1] = Span(out[-1].start, max(out[-1].end, end))
            else:
                out.append(Span(start, end))
        return out


class SpeechDetector:
    """Finds speech with `settings`; the model session is the process's shared one."""

    def __init__(self, settings: SpeechSettings | None = None) -> None:
        self.settings = settings or SpeechSettings()
        self.model = shared_model(self.settings.threads)

    def stream(self, rate: int = RATE) -> SpeechStream:
        """A new stream of mono samples at `rate` (resampled to 16 kHz inside)."""
        return SpeechStream(self.model, self.settings, rate)


def _run_back(loud: np.ndarray, first: int, limit: int) -> int:
    """The first window of the run of loud windows that ends at `first` (not before `limit`)."""
    while first > limit and loud[first - 1]:
        first -= 1
    return first


def _run_on(loud: np.ndarray, last: int, limit: int) -> int:
    """The end of the run of loud windows that starts at `last` (not after `limit`)."""
    while last < limit and loud[last]:
        last += 1
    return last


def _level(window: np.ndarray) -> float:
    """The level of `window` in dB (full scale 0; silence -120)."""
    power = float(np.mean(np.square(window, dtype=np.float64)))
    return 10.0 * np.log10(max(power, 1e-12))


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Float32 mono from (n,) or (channels, n) samples; integer samples are scaled to -1..1."""
    samples = np.asarray(samples)
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        half = (int(info.max) - int(info.min) + 1) / 2  # 32768 for int16, 128 for uint8
        samples = (samples.astype(np.float64) - (int(info.min) + half)) / half
    if samples.ndim == 2:
        samples = samples.mean(axis=0)
    elif samples.ndim != 1:
        raise ValueError(f"samples must be (n,) or (channels, n), not {samples.shape}")
    return samples.astype(np.float32)


def speech_spans(samples: np.ndarray, rate: int,
                 settings: SpeechSettings | None = None) -> list[Span]:
    """The speech spans in a whole clip at `rate`, (n,) or (channels, n)."""
    mono = to_mono(samples)
    stream = SpeechDetector(settings).stream(rate)
    step = rate * 10
    for i in range(0, len(mono), step):
        stream.push(mono[i:i + step])
    return stream.finish(len(mono) / rate)
