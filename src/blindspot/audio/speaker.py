"""Who is speaking: resemblyzer's GE2E speaker encoder on ONNX Runtime, without torch.

A voice identifies a person, so blindspot attacks its own disguised voices with a speaker
recognizer (`bench/voice.py`, the audit). `embed(samples, rate)` is a unit 256-d vector of the
voice in `samples`; `similarity(a, b)` is the cosine of two of them (the same speaker scores
high, two speakers lower). It reproduces resemblyzer 0.1.4's `VoiceEncoder.embed_utterance`
(Wan et al., "Generalized End-to-End Loss for Speaker Verification", 2018) in numpy:

- samples at 16 kHz (other rates resampled by FFmpeg's swresample, as `speech` does; resemblyzer
  uses librosa's soxr), the volume raised to -30 dBFS if quieter (resemblyzer's
  `normalize_volume(..., increase_only=True)`);
- partial windows of 160 frames (1.6 s), 1.3 per second, the last one kept if at least 75 % of
  it is audio (resemblyzer's `compute_partial_slices`), the audio zero-padded to the last window;
- each window's mel power spectrogram as librosa 0.10-0.11's `melspectrogram` makes it with
  resemblyzer's parameters: 25 ms periodic Hann window, 10 ms hop, centred frames with zero
  padding (librosa >= 0.10's default `pad_mode="constant"`; older librosa reflected), power
  spectrum, 40 Slaney mel bands with Slaney area normalisation, 0-8 kHz (no log);
- the bundled model (`models/ge2e_speaker.onnx`, exported from the wheel's `pretrained.pt` by
  `tools/export_speaker_model.py`: LSTM 3 × 256, linear, ReLU, L2 norm) embeds each window;
  the windows' embeddings are averaged and normalised.

Not done here: resemblyzer's `preprocess_wav` also cuts silences longer than about 0.2 s with
webrtcvad. Callers pass speech only (the spans that `speech.speech_spans`, Silero VAD, found,
cut out and joined); silence or noise passed in is embedded as if it were voice.
On the dev voices the cosine to resemblyzer's own embedding of the same samples is above 0.999
(docs/voice.md, "The attacker without torch").
"""

from __future__ import annotations

import threading

import numpy as np

from ..detect.onnx import load_model, session
from .speech import RATE, Resampler, to_mono

MODEL_NAME = "ge2e-speaker"
MODEL_FILE = "ge2e_speaker.onnx"
MODEL_SHA256 = "447778d31716c84d620043cc1ace869de7b3afb102a316bf118a975b7286696a"

N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL = 160  # frames in a partial window (1.6 s)
PARTIAL_RATE = 1.3  # partial windows per second
MIN_COVERAGE = 0.75  # share of the last window that must be audio for it to count
TARGET_DBFS = -30.0
BATCH = 32  # partial windows per model run (bounds memory on long audio)
# Less speech than this gives an embedding too unreliable to name anyone (a partial window is
# 1.6 s; shorter speech is zero-padded into one).
MIN_SECONDS = 1.0


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, np.float64)
    linear = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)),
                    m * (200.0 / 3))


def mel_filterbank(rate: int = RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters equally spaced on Slaney's mel scale from 0
    to rate / 2, each scaled to unit area (librosa's `filters.mel`, norm="slaney")."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


_FILTERS = mel_filterbank()
_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann


def mel_frames(wav: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) of the (frames, N_MELS) float32 mel power spectrogram of `wav` (16
    kHz): frame t is centred on sample t · HOP, zeros outside the audio."""
    first = start * HOP - N_FFT // 2
    span = (stop - start - 1) * HOP + N_FFT
    chunk = np.zeros(span, np.float64)
    lo, hi = max(first, 0), min(first + span, len(wav))
    if hi > lo:
        chunk[lo - first:hi - first] = wav[lo:hi]
    frames = np.lib.stride_tricks.sliding_window_view(chunk, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power @ _FILTERS.T).astype(np.float32)


def partial_starts(n_samples: int) -> list[int]:
    """The first frame of each partial window over `n_samples` samples (resemblyzer's
    `compute_partial_slices` with rate 1.3 and min_coverage 0.75): at least one."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((RATE / PARTIAL_RATE) / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """`wav` raised to an RMS of `target_dbfs` if it is quieter (never lowered)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    change = target_dbfs - 20 * np.log10(rms)
    return wav * (10 ** (change / 20)) if change > 0 else wav


class SpeakerEncoder:
    """One ONNX Runtime session of the speaker encoder; `embed` is thread-safe."""

    def __init__(self, threads: int = 1) -> None:
        self.session = session(load_model(MODEL_FILE, MODEL_SHA256), threads, "cpu")
        self._lock = threading.Lock()

    def embed(self, samples: np.ndarray, rate: int = RATE,
              min_seconds: float = MIN_SECONDS) -> np.ndarray:
        """The unit (256,) float32 voice embedding of `samples` ((n,) or (channels, n), float or
        integer, at `rate`), speech only. ValueError when there are fewer than `min_seconds` of
        it, or no sound at all."""
        wav = to_mono(samples)
        if rate != RATE:
            resampler = Resampler(rate)
            wav = np.concatenate([resampler.push(wav), resampler.flush()])
        wav = wav.astype(np.float64)
        if len(wav) < min_seconds * RATE:
            raise ValueError(f"too little speech to embed a voice: {len(wav) / RATE:.2f} s, "
                             f"at least {min_seconds:g} s needed")
        if not np.all(np.isfinite(wav)) or not np.any(wav):
            raise ValueError("no sound to embed a voice from (silent or not finite)")
        wav = normalize_volume(wav)
        starts = partial_starts(len(wav))
        parts = []
        for i in range(0, len(starts), BATCH):
            batch = starts[i:i + BATCH]
            mel = mel_frames(wav, batch[0], batch[-1] + PARTIAL)
            mels = np.stack([mel[s - batch[0]:s - batch[0] + PARTIAL] for s in batch])
            with self._lock:
                parts.append(self.session.run(None, {"mels": mels})[0])
        mean = np.concatenate(parts).mean(axis=0)
        return (mean / np.linalg.norm(mean)).astype(np.float32)


_encoders: dict[tuple[str, int], SpeakerEncoder] = {}
_encoders_lock = threading.Lock()


def shared_encoder(threads: int = 1) -> SpeakerEncoder:
    """The process's session of the encoder for `threads`, made on first use."""
    key = (MODEL_SHA256, threads)
    with _encoders_lock:
        if key not in _encoders:
            _encoders[key] = SpeakerEncoder(threads)
        return _encoders[key]


def embed(samples: np.ndarray, rate: int = RATE, min_seconds: float = MIN_SECONDS,
          threads: int = 1) -> np.ndarray:
    """The unit (256,) voice embedding of `samples` (speech only; see the module's docstring)
    with the process's shared encoder. ValueError when there is too little speech."""
    return shared_encoder(threads).embed(samples, rate, min_seconds)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of two voice embeddings: 1 the same voice, lower the less alike."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
