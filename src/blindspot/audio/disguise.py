"""Voice disguise: speech a speaker recognizer cannot attribute, with the words kept.

`disguise(samples, rate, rng)` is the product's transform (`--voice disguise`). It works in
the short-time Fourier domain (numpy FFT only) and splits each frame's log spectrum into a
smooth spectral envelope (cepstral liftering: the vocal tract, the formants) and the fine
structure (the harmonics: the pitch). Then, with parameters drawn once per file
(`DisguiseParams.draw`):

- the envelope's frequency axis is warped by a random, non-linear, monotonic piecewise-linear
  map (a random overall formant shift plus independent random moves of the low, mid and high
  formant regions), so the formant pattern that identifies a voice is rearranged, not only
  scaled;
- the fine structure is shifted by a random pitch ratio, independent of the envelope warp (a
  plain pitch shifter moves both together, which is trivially undone);
- the pitch contour is flattened or exaggerated around its mean by a random factor (the
  speaker's intonation range changes);
- a random spectral tilt (dB per octave) is applied;
- the speaker's long-term spectral shape is flattened (at most FLATTEN_LIMIT_DB) and a random
  one imposed;
- the envelope's spread over the speech frames (per frequency bin, in the band the recording
  has speech in) is normalized to a generic one, so the speaker's and the channel's dynamic range
  go too (`_normalize_spread`);
- in voiced frames the fine structure is not the speaker's shifted but a plain harmonic comb at
  the output pitch: the speaker's voice quality (breathiness, harmonic-to-noise balance) and the
  recording's noise between the harmonics go;
- each frame keeps its energy, so timing, loudness and silences are unchanged.

The output has the input's length (lip sync is kept), and the same parameters applied to every
span of a file give one consistent voice throughout that file; a different file gets a different
voice. Which method and which parameter ranges were chosen by measurement against a speaker
recognizer (GE2E, resemblyzer) on the tune half of the voice corpus: see `bench/voice.py` and
docs/voice.md. The other methods measured there stay here, selectable by name in `METHODS`:
"pitch" (a plain pitch shifter), "mcadams" (the VoicePrivacy Challenge signal-processing
baseline, LPC pole angles raised to a power), "formant" (the envelope warp alone), "disguise1"
(the product's until 2026-12-01) and "disguise" (the product's).

Over 400 lines, on purpose: one signal chain (STFT, pitch track, envelope, formant shift,
resynthesis) whose steps share its frame sizes; each step is a small function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["METHODS", "DisguiseParams", "disguise", "apply"]

_EPS = 1e-10
FLATTEN_LIMIT_DB = 12.0  # the most the speaker's long-term spectral shape is corrected, in dB


@dataclass(frozen=True)
class DisguiseParams:
    """The random draw for one file. Apply the same draw to every speech span of that file.

    The voice is moved to an absolute random target, not by a random ratio: whatever the
    speaker's own pitch and timbre, the output's are drawn from the same distribution, so an
    attacker who disguises his own enrollment recordings (with his own draws) still has no
    speaker-specific average to match against."""

    f0: float  # target median F0, Hz
    formant_exponent: float  # the envelope is scaled by (pitch ratio) ** this
    jitter: tuple[float, ...]  # per-knot factors on the envelope warp (KNOTS)
    contour: float  # factor on log-F0 deviations from the median (intonation range)
    eq: tuple[float, ...]  # dB at EQ_HZ: the long-term spectral shape the voice gets
    flatten: float  # share of the speaker's own long-term spectral shape removed (0-1)
    spread: float = 1.0  # factor on the generic voice's envelope spread (normalization)

    # The ranges (chosen on the tune speakers; see docs/voice.md).
    F0_HZ = (95.0, 240.0)  # log-uniform
    RATIO_LIMIT = (0.5, 2.0)
    FORMANT_EXPONENT = (0.2, 0.8)
    KNOTS = (300.0, 900.0, 1800.0, 3000.0, 4500.0)
    KNOT_JITTER = 0.25
    CONTOUR = (0.5, 1.5)
    EQ_HZ = (150.0, 250.0, 400.0, 650.0, 1000.0, 1600.0, 2500.0, 4000.0, 6300.0, 10000.0)
    EQ_DB = 9.0
    FLATTEN = 1.0
    SPREAD = (0.8, 1.25)
    SPREAD_DB = 9.0  # the generic envelope spread (std over speech frames, per bin)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> DisguiseParams:
        return cls(
            f0=float(np.exp(rng.uniform(*np.log(cls.F0_HZ)))),
            formant_exponent=float(rng.uniform(*cls.FORMANT_EXPONENT)),
            jitter=tuple(
                float(j) for j in rng.uniform(1 - cls.KNOT_JITTER, 1 + cls.KNOT_JITTER, 5)
            ),
            contour=float(rng.uniform(*cls.CONTOUR)),
            eq=tuple(float(d) for d in rng.uniform(-cls.EQ_DB, cls.EQ_DB, len(cls.EQ_HZ))),
            flatten=cls.FLATTEN,
            spread=float(rng.uniform(*cls.SPREAD)),
        )


def disguise(
    samples: np.ndarray,
    rate: int,
    rng: np.random.Generator | None = None,
    params: DisguiseParams | None = None,
) -> np.ndarray:
    """The product's voice disguise. Give `rng` (parameters drawn from it) or `params` (drawn
    once per file with `DisguiseParams.draw`, then passed for every span of that file).

    `samples`: float in [-1, 1], mono (n,) or (channels, n); the same transform is applied to
    every channel. Returns float32 of the same shape, in [-1, 1]."""
    if params is None:
        if rng is None:
            raise ValueError("disguise needs rng or params")
        params = DisguiseParams.draw(rng)
    return _per_channel(samples, lambda x: _disguise_mono(x, rate, params))


# --- the STFT engine ---------------------------------------------------------------------------


def _frame_size(rate: int) -> int:
    """FFT size of about 32 ms (a power of two)."""
    return int(2 ** np.round(np.log2(max(rate, 1000) * 0.032)))


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    pad = n_fft
    padded = np.pad(x, (pad, pad + (-(len(x) + 2 * pad - n_fft) % hop)))
    count = 1 + (len(padded) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    return np.fft.rfft(padded[idx] * np.hanning(n_fft + 1)[:-1], axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    total = hop * (len(frames) - 1) + n_fft
    out = np.zeros(total)
    norm = np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window**2
    out /= np.maximum(norm, 1e-3)
    return out[n_fft : n_fft + length]


def _envelope(logmag: np.ndarray, rate: int) -> np.ndarray:
    """Smooth log envelope by cepstral liftering (quefrencies below 1.5 ms: below the pitch
    period of any voice up to 660 Hz)."""
    n_fft = 2 * (logmag.shape[1] - 1)
    cep = np.fft.irfft(logmag, n=n_fft, axis=1)
    cut = max(8, int(rate * 0.0015))
    lifter = np.zeros(n_fft)
    lifter[:cut] = 1.0
    lifter[n_fft - cut + 1 :] = 1.0
    lifter[cut - 2 : cut] = 0.5  # soften the edge
    return np.fft.rfft(cep * lifter, axis=1).real


def _f0_track(x: np.ndarray, rate: int, frames: int, hop: int, n_fft: int) -> np.ndarray:
    """A per-frame F0 (Hz) for the `frames` STFT frames (hop `hop`, size `n_fft`); 0 where a
    frame is not voiced. Normalized autocorrelation (Boersma 1993: the frame's autocorrelation
    divided by its window's) on windows of about 50 ms or more, the shortest lag whose peak is
    within 15 % of the best (against octave errors)."""
    size = int(2 ** np.ceil(np.log2(max(rate, 1000) * 0.05)))
    lo, hi = int(rate / 400), min(int(rate / 60), size // 2)
    if len(x) == 0 or hi <= lo + 2:
        return np.zeros(frames)
    # Analysis windows centred where the STFT frames are centred (frame i: i * hop - n_fft / 2
    # in the signal, see _stft's padding).
    centres = np.arange(frames) * hop - n_fft // 2
    padded = np.pad(x, (size, size))
    starts = np.clip(centres + size - size // 2, 0, len(padded) - size)
    seg = padded[starts[:, None] + np.arange(size)[None, :]]
    seg = seg - seg.mean(axis=1, keepdims=True)
    window = np.hanning(size + 2)[1:-1]
    ac = np.fft.irfft(np.abs(np.fft.rfft(seg * window, 2 * size, axis=1)) ** 2, axis=1)[:, :hi]
    ac_w = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * size)) ** 2)[:hi]
    r = ac / np.maximum(ac[:, :1], _EPS) / (ac_w / ac_w[0])
    r[:, :lo] = -1.0
    best = np.max(r, axis=1)
    peak = (r[:, 1:-1] > r[:, :-2]) & (r[:, 1:-1] >= r[:, 2:])
    good = peak & (r[:, 1:-1] >= 0.85 * best[:, None])
    lag = 1 + np.argmax(good, axis=1)
    energy = ac[:, 0]
    voiced = (best > 0.45) & good.any(axis=1) & (energy > 1e-3 * max(float(energy.max()), _EPS))
    return np.where(voiced, rate / np.maximum(lag, 1), 0.0)


def _transform(
    x: np.ndarray,
    rate: int,
    pitch: float | np.ndarray,
    env_map: Callable[[np.ndarray], np.ndarray] | None,
    fine_with_envelope: bool = False,
    eq: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    flatten: float = 0.0,
    normalize: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    comb: np.ndarray | None = None,
) -> np.ndarray:
    """The STFT-domain engine. `pitch`: ratio (scalar or per frame) for the fine structure;
    `env_map(f_out)` -> f_in: where the output envelope at f_out is read from the input
    envelope (None: unchanged). `fine_with_envelope`: move the whole spectrum together (a
    plain pitch shifter). `normalize(env, mag, freqs)` -> env: applied to the input envelope
    first. `comb`: per-frame output F0 (Hz, 0 = unvoiced): voiced frames get a plain harmonic
    comb as fine structure instead of the speaker's. Each frame keeps its energy."""
    n = len(x)
    if n == 0:
        return x.astype(np.float32)
    n_fft = _frame_size(rate)
    hop = n_fft // 4
    spec = _stft(x.astype(np.float64), n_fft, hop)
    mag = np.abs(spec)
    bins = mag.shape[1]
    freqs = np.arange(bins) * rate / n_fft
    logmag = np.log(mag + _EPS)

    frames = len(spec)
    ratio = np.broadcast_to(np.asarray(pitch, dtype=np.float64), (frames,))[:, None]

    if fine_with_envelope:
        env = np.zeros_like(logmag)
        fine = logmag
    else:
        env = _envelope(logmag, rate)
        fine = logmag - env
    if normalize is not None:
        env = normalize(env, mag, freqs)

    # Envelope: read at the warped frequencies (linear interpolation along bins).
    if env_map is not None and not fine_with_envelope:
        src = np.clip(env_map(freqs) * n_fft / rate, 0, bins - 1)
        env = _interp_rows(env, np.broadcast_to(src, env.shape))
    # Fine structure (and phase): bin k reads source bin k / ratio.
    src_bins = np.clip(np.arange(bins)[None, :] / ratio, 0, bins - 1)
    fine_out = _interp_rows(fine, src_bins)
    # Above the source's top the shifted fine structure is empty: fill with the floor.
    fine_out = np.where(np.arange(bins)[None, :] / ratio > bins - 1, fine.min(), fine_out)
    if comb is not None:
        # Voiced frames: the fine structure replaced by a plain harmonic comb at the output F0
        # (the speaker's voice quality, breathiness and the recording's noise between the
        # harmonics go; the envelope stays).
        voiced = comb > 0
        if voiced.any():
            f0v = comb[voiced][:, None]
            pos = freqs[None, :] / f0v
            dist = (pos - np.rint(pos)) * f0v * n_fft / rate  # bins from the nearest harmonic
            syn = np.log(np.exp(-0.5 * (dist / 1.0) ** 2) + 10 ** (-30 / 20))
            ref = fine_out[voiced]
            syn = syn - syn.mean(axis=1, keepdims=True) + ref.mean(axis=1, keepdims=True)
            fine_out = fine_out.copy()
            fine_out[voiced] = syn

    if flatten:
        # At most FLATTEN_LIMIT_DB either way: a recording's band limit (a low-passed or
        # compressed sound) is not the speaker's, and undoing it would raise the noise floor
        # above the speech.
        limit = FLATTEN_LIMIT_DB / 20.0 * np.log(10.0)
        shape = np.clip(_long_term_shape(env, mag, rate), -limit, limit)
        env = env - flatten * shape[None, :]
    out_log = env + fine_out
    if eq is not None:
        hz, db = eq
        curve = np.interp(np.log2(np.maximum(freqs, 1.0)), np.log2(hz), db)
        out_log = out_log + (curve / 20.0 * np.log(10.0))[None, :]
    out_mag = np.exp(out_log)

    # Phase: a phase vocoder on the source bins, instantaneous frequencies scaled by the ratio.
    phase = np.angle(spec)
    omega = 2 * np.pi * np.arange(bins) * hop / n_fft
    dphi = np.diff(phase, axis=0, prepend=phase[:1]) - omega[None, :]
    dphi = (dphi + np.pi) % (2 * np.pi) - np.pi
    inst = omega[None, :] + dphi  # per hop, per source bin
    nearest = np.rint(src_bins).astype(np.int64)
    inst_out = np.take_along_axis(inst, nearest, axis=1) * ratio
    phase_out = np.cumsum(inst_out, axis=0) + phase[:1]

    # Each frame keeps its energy (silence stays silence, loudness is unchanged).
    energy_in = np.sum(mag**2, axis=1, keepdims=True)
    energy_out = np.sum(out_mag**2, axis=1, keepdims=True)
    out_mag *= np.sqrt(energy_in / np.maximum(energy_out, _EPS * _EPS))
    y = _istft(out_mag * np.exp(1j * phase_out), n_fft, hop, n)
    # Overlapping frames with new phases partly cancel: 3-6 dB lost on espeak speech. The span
    # gets its loudness back as a whole (one gain: the frames' balance stays as set above).
    rms_in, rms_out = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y**2))
    if rms_out > _EPS:
        y *= rms_in / rms_out
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _long_term_shape(env: np.ndarray, mag: np.ndarray, rate: int) -> np.ndarray:
    """The broad long-term shape of the (log) envelope over the span's louder frames: its
    first cepstral coefficients (a smooth curve: tilt and broad balance, not formants), minus
    its mean (levels are kept per frame anyway)."""
    energy = np.sum(mag**2, axis=1)
    loud = energy > 0.05 * max(float(energy.max()), _EPS)
    if not loud.any():
        return np.zeros(env.shape[1])
    mean = env[loud].mean(axis=0)
    n_fft = 2 * (env.shape[1] - 1)
    cep = np.fft.irfft(mean, n=n_fft)
    keep = 6
    cep[keep : n_fft - keep + 1] = 0.0
    cep[0] = 0.0
    return np.fft.rfft(cep).real


def _interp_rows(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[t, positions[t, k]] with linear interpolation between columns."""
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, values.shape[1] - 1)
    frac = positions - lo
    a = np.take_along_axis(values, lo, axis=1)
    b = np.take_along_axis(values, hi, axis=1)
    return a + (b - a) * frac


def _piecewise(knots: tuple[tuple[float, float], ...], rate: int):
    """f_out -> f_in for the monotonic map through (0, 0), the knots and (nyquist, nyquist)."""
    nyq = rate / 2.0
    ins = [0.0] + [a for a, _ in knots if a < nyq] + [nyq]
    outs = [0.0] + [min(b, nyq * 0.999) for a, b in knots if a < nyq] + [nyq]
    outs = list(np.maximum.accumulate(np.asarray(outs)))
    for i in range(1, len(outs)):  # strictly increasing
        outs[i] = max(outs[i], outs[i - 1] + 1e-3)
    outs[-1] = max(outs[-1], nyq)
    return lambda f: np.interp(f, outs, ins)


# --- the methods -------------------------------------------------------------------------------


_DB = 20.0 / np.log(10.0)


def _normalize_spread(env: np.ndarray, mag: np.ndarray, freqs: np.ndarray, spread_db: float
                      ) -> np.ndarray:
    """The speaker's (and the channel's) dynamic range of the envelope replaced by a generic
    one: over the span's louder frames, each frequency bin's standard deviation of the frames'
    envelope shape (the envelope less the frame's level) is scaled to `spread_db` (the ratio
    limited to SPREAD_RATIO), around the bin's mean, which is kept (the long-term shape is
    handled by the flattening step). Only in the band the recording has speech in: bins where
    the speech frames are less than SPREAD_SNR_DB over the bin's noise floor (10th percentile
    over the frames) or more than SPREAD_DROP_DB below the loudest bin are left alone, so a
    band-limited recording's noise floor is never stretched."""
    energy = np.sum(mag**2, axis=1)
    loud = energy > 0.05 * max(float(energy.max()), _EPS)
    if loud.sum() < 5:
        return env
    speech = env[loud].mean(axis=0)
    snr = (speech - np.percentile(env, 10, axis=0)) * _DB
    drop = (speech - speech.max()) * _DB
    w = (np.clip((snr - SPREAD_SNR_DB) / 10.0, 0, 1)
         * np.clip((drop + SPREAD_DROP_DB) / 10.0, 0, 1) * (freqs >= 60.0))
    if w.sum() < 3:
        return env
    level = (env * w).sum(axis=1, keepdims=True) / w.sum()
    shape = env - level
    mean = shape[loud].mean(axis=0)
    sd = np.maximum(shape[loud].std(axis=0), 1.0 / _DB)
    r = np.clip(spread_db / _DB / sd, *SPREAD_RATIO)
    return env + w * (r - 1.0) * (shape - mean)


SPREAD_SNR_DB = 6.0
SPREAD_DROP_DB = 50.0
SPREAD_RATIO = (0.6, 1.6)


def _disguise_mono(x: np.ndarray, rate: int, p: DisguiseParams, v1: bool = False) -> np.ndarray:
    """The product's disguise; `v1`: the method before 2026-12-01 (no spread normalization,
    the speaker's own fine structure shifted), kept for the bench."""
    if len(x) == 0:
        return x.astype(np.float32)
    n_fft = _frame_size(rate)
    frames = len(_stft(x[:1].astype(np.float64), n_fft, n_fft // 4)) + (len(x) - 1) // (n_fft // 4)
    f0 = _f0_track(x.astype(np.float64), rate, frames, n_fft // 4, n_fft)
    voiced = f0 > 0
    # The speaker's median F0 in this span (a span without voicing: a middle voice).
    centre = float(np.median(np.log(f0[voiced]))) if voiced.sum() >= 3 else np.log(150.0)
    base = float(np.clip(p.f0 / np.exp(centre), *DisguiseParams.RATIO_LIMIT))
    ratio: float | np.ndarray = base
    if p.contour != 1.0 and voiced.sum() >= 3:
        # Target log-F0: deviations from the median scaled by `contour`; the frame's extra
        # ratio is smoothed over about 50 ms, unvoiced frames at the plain ratio.
        dev = np.zeros(len(f0))
        dev[voiced] = np.clip((p.contour - 1.0) * (np.log(f0[voiced]) - centre), -0.5, 0.5)
        dev = np.convolve(dev, np.ones(5) / 5, mode="same")
        ratio = base * np.exp(dev)
    scale = base**p.formant_exponent
    knots = []
    previous = 0.0
    for f, j in zip(DisguiseParams.KNOTS, p.jitter, strict=True):
        previous = max(f * scale * j, previous * 1.15)
        knots.append((f, previous))
    eq = (DisguiseParams.EQ_HZ, p.eq)
    env_map = _piecewise(tuple(knots), rate)
    if v1:
        return _transform(x, rate, ratio, env_map, eq=eq, flatten=p.flatten)
    out_f0 = np.where(voiced, f0 * np.broadcast_to(ratio, f0.shape), 0.0)
    spread_db = DisguiseParams.SPREAD_DB * p.spread
    return _transform(x, rate, ratio, env_map, eq=eq, flatten=p.flatten,
                      normalize=lambda e, m, f: _normalize_spread(e, m, f, spread_db),
                      comb=out_f0)


def _pitch_mono(x: np.ndarray, rate: int, ratio: float) -> np.ndarray:
    return _transform(x, rate, ratio, None, fine_with_envelope=True)


def _formant_mono(x: np.ndarray, rate: int, scale: float) -> np.ndarray:
    return _transform(x, rate, 1.0, lambda f: f / scale)


def _lpc(frames: np.ndarray, order: int) -> np.ndarray:
    """LPC polynomials (rows [1, a1, ..., a_order]) by autocorrelation and Levinson-Durbin."""
    n = frames.shape[1]
    spec = np.fft.rfft(frames, n=2 * n, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-9) + 1e-12
    a = np.zeros((len(frames), order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1 : 0 : -1], axis=1)
        k = -acc / err
        a_prev = a.copy()
        a[:, i] = k
        a[:, 1:i] = a_prev[:, 1:i] + k[:, None] * a_prev[:, i - 1 : 0 : -1]
        err = err * (1 - k**2)
    return a


def _mcadams_mono(x: np.ndarray, rate: int, alpha: float, order: int = 20) -> np.ndarray:
    """The VoicePrivacy Challenge B2 baseline (Patino et al. 2021): per 20 ms Hann frame (50 %
    overlap), LPC analysis, the angle phi of every complex pole becomes phi ** alpha, the LPC
    residual is filtered by the new all-pole filter; overlap-add. Output RMS matched to the
    input (the original normalizes the peak)."""
    n = len(x)
    if n == 0:
        return x.astype(np.float32)
    win_len = int(rate * 0.02)
    hop = win_len // 2
    padded = np.pad(x.astype(np.float64), (win_len, win_len + (-n % hop)))
    count = 1 + (len(padded) - win_len) // hop
    idx = np.arange(win_len)[None, :] + hop * np.arange(count)[:, None]
    window = np.hanning(win_len + 1)[:-1]
    frames = padded[idx] * window
    a = _lpc(frames + 1e-9, order)
    # Poles: eigenvalues of the companion matrices.
    comp = np.zeros((count, order, order))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(comp)
    angle = np.angle(poles)
    complex_ = np.abs(angle) > 1e-6
    new_angle = np.sign(angle) * np.clip(np.abs(angle) ** alpha, 0, np.pi)
    poles = np.where(complex_, np.abs(poles) * np.exp(1j * new_angle), poles)
    # Polynomial from the poles (batched np.poly).
    a_new = np.zeros((count, order + 1), dtype=complex)
    a_new[:, 0] = 1.0
    for j in range(order):
        a_new[:, 1:] = a_new[:, 1:] - poles[:, j : j + 1] * a_new[:, :-1]
    a_new = a_new.real
    nfft = 1 << int(np.ceil(np.log2(win_len * 8)))
    # Residual (FIR by A, truncated to the frame), then 1 / A_new (IIR, truncated).
    res_spec = np.fft.rfft(frames, nfft, axis=1) * np.fft.rfft(a, nfft, axis=1)
    residual = np.fft.irfft(res_spec, nfft, axis=1)[:, :win_len]
    h = np.fft.irfft(1.0 / (np.fft.rfft(a_new, nfft, axis=1) + _EPS), nfft, axis=1)
    rec = np.fft.irfft(
        np.fft.rfft(residual, nfft, axis=1) * np.fft.rfft(h[:, :win_len], nfft, axis=1),
        nfft,
        axis=1,
    )[:, :win_len] * window
    out = np.zeros(len(padded))
    for i in range(count):
        out[i * hop : i * hop + win_len] += rec[i]
    out = out[win_len : win_len + n]
    rms_in = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    rms_out = np.sqrt(np.mean(out**2))
    if rms_out > 0:
        out *= rms_in / rms_out
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _per_channel(samples: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 1:
        return fn(x)
    if x.ndim == 2:
        return np.stack([fn(channel) for channel in x]).astype(np.float32)
    raise ValueError(f"samples must be (n,) or (channels, n), not {x.shape}")


# Each method: draw(rng) -> parameters; run(mono samples, rate, parameters) -> disguised.
@dataclass(frozen=True)
class Method:
    draw: Callable[[np.random.Generator], object]
    run: Callable[[np.ndarray, int, object], np.ndarray]
    about: str


def _pitch_draw(rng: np.random.Generator) -> float:
    semis = rng.uniform(4.0, 7.0) * (1 if rng.integers(2) else -1)
    return float(2.0 ** (semis / 12.0))


def _formant_draw(rng: np.random.Generator) -> float:
    shift = rng.uniform(0.12, 0.22)
    return float(1 + shift if rng.integers(2) else 1 / (1 + shift))


METHODS: dict[str, Method] = {
    "pitch": Method(
        _pitch_draw,
        _pitch_mono,  # type: ignore[arg-type]
        "plain pitch shifter (harmonics and formants together), ±4–7 semitones at random",
    ),
    "mcadams": Method(
        lambda rng: float(rng.uniform(0.7, 0.9)),
        _mcadams_mono,  # type: ignore[arg-type]
        "VoicePrivacy B2: LPC pole angles phi -> phi**alpha, alpha uniform in 0.7–0.9",
    ),
    "formant": Method(
        _formant_draw,
        _formant_mono,  # type: ignore[arg-type]
        "spectral envelope scaled by 1 ± 0.12–0.22, pitch unchanged",
    ),
    "disguise1": Method(
        DisguiseParams.draw,
        lambda x, rate, p: _disguise_mono(x, rate, p, v1=True),  # type: ignore[arg-type]
        "the product until 2026-12-01: absolute random pitch, random non-linear envelope warp, "
        "intonation range, long-term shape flattened, random EQ",
    ),
    "disguise": Method(
        DisguiseParams.draw,
        _disguise_mono,  # type: ignore[arg-type]
        "the product: disguise1 + the envelope's spread normalized, the voiced fine structure "
        "replaced by a plain harmonic comb at the drawn pitch",
    ),
}


def apply(method: str, samples: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Run a measured method by name, parameters drawn from `rng` (for the benchmark)."""
    m = METHODS[method]
    params = m.draw(rng)
    return _per_channel(samples, lambda x: m.run(x, rate, params))
