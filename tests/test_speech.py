"""Speech is found where someone speaks (espeak-ng's voice), not in noise or tones, the same in
any chunking, rate or channel layout, and the model ships intact."""

from __future__ import annotations

import shutil
import subprocess
import threading
import tracemalloc
import wave

import numpy as np
import pytest

from blindspot.audio import speech as speech_module
from blindspot.audio.speech import (
    RATE,
    WINDOW,
    SileroVAD,
    Span,
    SpeechDetector,
    SpeechSettings,
    SpeechStream,
    speech_spans,
)
from blindspot.errors import BlindspotError

ESPEAK_RATE = 22050
PAD = SpeechSettings().pad
TOLERANCE = 0.15  # seconds: the model's edges are a window or two off the waveform's
TEXT = ("My name is Alice Johnson and I live at forty two Baker Street. "
        "Call me tomorrow morning at nine.")


def _noise(seconds: float, level: float, seed: int, rate: int = ESPEAK_RATE) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * level)


def _pink(seconds: float, level: float, seed: int, rate: int = ESPEAK_RATE) -> np.ndarray:
    white = np.fft.rfft(_noise(seconds, 1.0, seed, rate))
    f = np.fft.rfftfreq(int(seconds * rate), 1 / rate)
    pink = np.fft.irfft(white / np.sqrt(np.maximum(f, 20.0)), int(seconds * rate))
    return pink / np.abs(pink).max() * level


def _tone(seconds: float, freqs: list[float], level: float, rate: int = ESPEAK_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return sum(np.sin(2 * np.pi * f * t) for f in freqs) * (level / len(freqs))


def _melody(seconds: float, rate: int = ESPEAK_RATE) -> np.ndarray:
    """Organ-like notes, four a second, each with harmonics and an attack: music, not voice."""
    notes = [262, 294, 330, 349, 392, 440, 494, 523]
    step = rate // 4
    out = []
    for i in range(int(seconds * 4)):
        f = notes[(i * 5) % len(notes)]
        note = _tone(step / rate, [f, 2 * f, 3 * f], 0.3, rate)
        out.append(note * np.minimum(1.0, np.arange(step) / 200) * np.linspace(1, 0.3, step))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> np.ndarray:
    """espeak-ng saying TEXT: float mono at 22050 Hz."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to test speech detection (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (ESPEAK_RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0


def _edges(voice: np.ndarray) -> tuple[float, float]:
    """Where the voice is audible in `voice`, in seconds."""
    loud = np.nonzero(np.abs(voice) > 0.01)[0]
    return loud[0] / ESPEAK_RATE, loud[-1] / ESPEAK_RATE


@pytest.fixture(scope="module")
def scene(voice) -> tuple[np.ndarray, Span]:
    """1.5 s of pink noise, the voice over a quieter hiss, then 2 s of a tone over noise; and
    where the voice is in it."""
    head = _pink(1.5, 0.05, 1)
    tail = _tone(2.0, [440], 0.2) + _noise(2.0, 0.01, 3)
    body = voice + _noise(len(voice) / ESPEAK_RATE, 0.003, 2)
    first, last = _edges(voice)
    return np.concatenate([head, body, tail]), Span(1.5 + first, 1.5 + last)


# The model's spans alone: no growing over audible sound, no edge spans.
MODEL_ONLY = SpeechSettings(grow=0, edges=0)


def test_finds_speech_between_other_sounds(scene):
    samples, truth = scene
    spans = speech_spans(samples, ESPEAK_RATE, MODEL_ONLY)
    assert len(spans) == 1
    (span,) = spans
    # All of the voice is covered, with the padding around it but not much more.
    assert span.start <= truth.start and span.end >= truth.end
    assert span.start >= truth.start - PAD - TOLERANCE
    # The low neg_threshold (recall) holds a span open up to ~0.3 s into the sound after it.
    assert span.end <= truth.end + PAD + TOLERANCE + 0.3
    assert span.duration < truth.duration + 2 * PAD + 2 * TOLERANCE + 0.3


def test_pads_each_side_of_what_the_model_finds(scene):
    samples, _ = scene
    bare = speech_spans(samples, ESPEAK_RATE, SpeechSettings(pad=0, merge_gap=0, grow=0, edges=0))
    padded = speech_spans(samples, ESPEAK_RATE,
                          SpeechSettings(pad=0.3, merge_gap=0, grow=0, edges=0))
    assert bare and len(padded) <= len(bare)
    assert padded[0].start == pytest.approx(bare[0].start - 0.3, abs=1e-9)
    assert padded[-1].end == pytest.approx(bare[-1].end + 0.3, abs=1e-9)


@pytest.mark.parametrize("name", ["white", "pink", "tone", "chord", "melody", "silence"])
def test_finds_no_speech_in_other_sounds(name):
    sound = {
        "white": lambda: _noise(6, 0.1, 4),
        "pink": lambda: _pink(6, 0.3, 5),
        "tone": lambda: _tone(6, [440], 0.5),
        "chord": lambda: _tone(6, [220, 277, 330, 440], 0.5) + _noise(6, 0.01, 6),
        "melody": lambda: _melody(6),
        "silence": lambda: np.zeros(6 * ESPEAK_RATE),
    }[name]()
    spans = speech_spans(sound, ESPEAK_RATE)
    if name == "melody":  # the cost of recall (SpeechSettings.threshold): some notes are taken
        assert sum(span.duration for span in spans) <= 1.5
    else:
        assert spans == []


def test_streaming_in_odd_chunks_finds_the_same_spans(scene):
    samples, _ = scene
    mono16 = speech_module.Resampler(ESPEAK_RATE)
    at16 = np.concatenate([mono16.push(samples), mono16.flush()])
    for rate, signal in [(RATE, at16), (ESPEAK_RATE, samples)]:
        detector = SpeechDetector()
        whole = detector.stream(rate)
        whole.push(signal)
        expected = whole.finish()
        chunked = detector.stream(rate)
        sizes, i, k = [1, 7, 333, WINDOW - 1, WINDOW + 1, 1000, 4097, 0], 0, 0
        while i < len(signal):
            chunked.push(signal[i:i + sizes[k % len(sizes)]])
            i += sizes[k % len(sizes)]
            k += 1
        assert expected
        assert chunked.finish() == expected


def test_any_rate_channels_and_sample_type_find_the_same_speech(scene):
    samples, truth = scene
    expected = speech_spans(samples, ESPEAK_RATE)
    t48 = np.arange(int(len(samples) * 48000 / ESPEAK_RATE)) / 48000
    at48 = np.interp(t48, np.arange(len(samples)) / ESPEAK_RATE, samples)
    stereo = np.stack([at48, 0.5 * at48])
    as_int16 = (samples * 32767).astype(np.int16)
    for got in (speech_spans(stereo, 48000), speech_spans(as_int16, ESPEAK_RATE),
                speech_spans(samples.astype(np.float32), ESPEAK_RATE)):
        assert len(got) == len(expected) == 1
        assert got[0].start == pytest.approx(expected[0].start, abs=2 * WINDOW / RATE)
        assert got[0].end == pytest.approx(expected[0].end, abs=2 * WINDOW / RATE)


def test_spans_are_clipped_to_the_duration(voice):
    spans = speech_spans(voice, ESPEAK_RATE)  # the voice starts at once and ends at the end
    duration = len(voice) / ESPEAK_RATE
    assert len(spans) == 1 and spans[0].start == 0 and spans[0].end == pytest.approx(duration)
    stream = SpeechDetector().stream(ESPEAK_RATE)
    stream.push(voice)
    assert stream.finish(2.0) == [Span(0.0, 2.0)]


def test_streams_share_one_model_across_threads(scene):
    samples, _ = scene
    expected = speech_spans(samples, ESPEAK_RATE)
    results: list[list[Span]] = []
    threads = [threading.Thread(target=lambda: results.append(speech_spans(samples, ESPEAK_RATE)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3
    assert SpeechDetector().model is SpeechDetector().model


def test_memory_stays_flat_over_a_long_stream():
    stream = SpeechDetector().stream(48000)
    chunk = _pink(1.0, 0.1, 7, 48000).astype(np.float32)
    stream.push(chunk)
    tracemalloc.start()
    for _ in range(60):  # a minute of audio
        stream.push(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 * chunk.nbytes + 200_000
    assert stream.finish() == []


def test_nan_samples_do_not_blind_the_rest_of_the_stream(scene):
    samples, _ = scene
    broken = samples.copy()
    broken[1000:1100] = np.nan
    assert speech_spans(broken, ESPEAK_RATE) == speech_spans(samples, ESPEAK_RATE)


class _Scripted:
    """A stand-in model scoring windows from a list."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = iter(probs)

    def run(self, window, state):
        assert window.shape == (speech_module.CONTEXT + WINDOW,)
        return next(self.probs), state


def _scripted_spans(probs: list[float], duration: float | None = None, **settings) -> list[Span]:
    stream = SpeechStream(_Scripted(probs), SpeechSettings(**settings))  # type: ignore[arg-type]
    stream.push(np.zeros(len(probs) * WINDOW, np.float32))
    return stream.finish(duration)


def test_segmentation_follows_silero():
    def w(n: int) -> float:  # the start of window n, in seconds (32 ms windows)
        return n * WINDOW / RATE

    loud, quiet = [0.9] * 20, [0.1] * 20
    # silero's own thresholds and shortest span
    bare = {"pad": 0, "merge_gap": 0, "threshold": 0.5, "neg_threshold": 0.35, "min_speech": 0.1}
    assert _scripted_spans(quiet + loud + quiet, **bare) == [Span(w(20), w(40))]
    # Between the thresholds, speech goes on; a dip shorter than min_silence doesn't split it.
    assert _scripted_spans(quiet + loud + [0.4] * 10 + [0.1] * 2 + loud + quiet,
                           **bare) == [Span(w(20), w(72))]
    # A blip shorter than min_speech is dropped; speech running to the end is kept.
    assert _scripted_spans(quiet + [0.9] * 2 + quiet + loud, **bare) == [Span(w(42), w(62))]
    # Padding, merging of close spans, clipping to [0, duration].
    # blindspot's shortest span is none: the blip is speech too.
    blip = _scripted_spans(quiet + [0.9] * 2 + quiet + loud, **{**bare, "min_speech": 0.0})
    assert blip == [Span(w(20), w(22)), Span(w(42), w(62))]
    padded = _scripted_spans(loud + [0.1] * 10 + loud + quiet * 3 + loud, duration=3.9,
                             pad=0.3, merge_gap=0.5, threshold=0.5, neg_threshold=0.35)
    assert padded == [Span(0.0, pytest.approx(w(50) + 0.3)),
                      Span(pytest.approx(w(110) - 0.3), 3.9)]


def test_a_damaged_model_is_refused(monkeypatch):
    monkeypatch.setattr(speech_module, "MODEL_SHA256", "0" * 64)
    with pytest.raises(BlindspotError, match="damaged"):
        SileroVAD()
    with pytest.raises(BlindspotError, match="damaged"):
        SpeechDetector()
