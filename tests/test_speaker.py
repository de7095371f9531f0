"""The speaker recognizer (`blindspot.audio.speaker`, resemblyzer's GE2E encoder on ONNX Runtime):
one voice saying two sentences is closer than two voices, embeddings are unit length and
deterministic, resemblyzer's partial windows and librosa's mel front end are reproduced, and a
damaged model is refused. Real speech from espeak-ng."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest

from blindspot.audio import speaker as speaker_module
from blindspot.audio.speaker import SpeakerEncoder, embed, partial_starts, similarity
from blindspot.errors import BlindspotError

FIRST = "The meeting is at the old bridge at nine tonight. Bring the banner and tell nobody."
SECOND = "Yesterday the river rose over the fields, and the farmers moved their cattle uphill."


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[tuple[str, str], tuple[np.ndarray, int]]:
    """Two espeak-ng voices (a low male, a female), each saying both sentences: float32 mono
    and its rate (22,050 Hz), by (voice, sentence)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to test the speaker recognizer "
                    "(apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speaker")
    out = {}
    for voice in ("en+m3", "en+f4"):
        for name, text in (("first", FIRST), ("second", SECOND)):
            path = folder / f"{voice}-{name}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                           capture_output=True)
            with wave.open(str(path)) as w:
                data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
                out[voice, name] = data.astype(np.float32) / 32768, w.getframerate()
    return out


def test_one_voice_is_closer_to_itself_than_to_another(speech):
    e = {key: embed(*clip) for key, clip in speech.items()}
    same = [similarity(e[v, "first"], e[v, "second"]) for v in ("en+m3", "en+f4")]
    other = [similarity(e["en+m3", a], e["en+f4", b])
             for a in ("first", "second") for b in ("first", "second")]
    assert min(same) > max(other) + 0.1, (same, other)


def test_embedding_is_unit_length_and_deterministic(speech):
    samples, rate = speech["en+m3", "first"]
    a, b = embed(samples, rate), SpeakerEncoder().embed(samples, rate)
    assert a.shape == (256,) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1, abs=1e-5)
    np.testing.assert_array_equal(a, b)
    assert similarity(a, b) == pytest.approx(1)
    # The same speech as int16 stereo is the same voice; below -30 dBFS the level is raised to
    # it (resemblyzer's normalisation, never lowered), so any quiet level gives one embedding.
    pcm = np.round(samples * 32767).astype(np.int16)
    assert similarity(a, embed(np.stack([pcm, pcm]), rate)) > 0.999
    assert similarity(embed(samples * 0.01, rate), embed(samples * 0.001, rate)) > 0.9999


def test_too_little_speech_is_refused(speech):
    samples, rate = speech["en+m3", "first"]
    with pytest.raises(ValueError, match="too little speech"):
        embed(samples[:rate // 2], rate)
    with pytest.raises(ValueError, match="no sound"):
        embed(np.zeros(3 * rate, np.float32), rate)


def test_partial_windows_follow_resemblyzer():
    # compute_partial_slices(n, rate=1.3, min_coverage=0.75): a window of 160 frames every 77.
    assert partial_starts(8000) == [0]  # shorter than one window: one, zero-padded
    assert partial_starts(48000) == [0, 77, 154]  # the last is 91 % audio: kept
    assert partial_starts(52000) == [0, 77, 154]  # the next would be 59 % audio: dropped
    assert partial_starts(16000 * 10) == list(range(0, 924, 77))


def test_mel_front_end_matches_librosa(speech):
    librosa = pytest.importorskip("librosa")
    samples, _ = speech["en+f4", "first"]
    want = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=400, hop_length=160,
                                          n_mels=40).T
    got = speaker_module.mel_frames(samples, 0, len(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())
    np.testing.assert_allclose(speaker_module.mel_frames(samples, 50, 210), want[50:210],
                               rtol=1e-4, atol=1e-6 * want.max())


def test_a_damaged_model_is_refused(monkeypatch):
    monkeypatch.setattr(speaker_module, "MODEL_SHA256", "0" * 64)
    with pytest.raises(BlindspotError, match="damaged"):
        SpeakerEncoder()
    with pytest.raises(BlindspotError, match="damaged"):
        embed(np.ones(16000 * 2, np.float32))
