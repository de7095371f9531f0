"""The audit's sample-level sound check (`blindspot.audit.sound`), end to end: real recordings,
the real product (mute, keep, disguise through PyAV's encoders), the real speech finder and
speaker recognizer; no mocks.

The original is two read sentences of one speaker (LibriSpeech, from the shared voice corpus;
where that folder is missing, the same built from espeak-ng speech) in a quiet room's noise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from soundfiles import write_talking_clip, write_wav

import blindspot
from blindspot.audio.speech import Span, SpeechSettings
from blindspot.audit import AuditSettings, audit_file, check_sound
from blindspot.audit.report import html_report, json_report, plain_verdict, terminal_table
from blindspot.audit.sound import audit_speech_settings
from blindspot.media.sound import read_audio

RATE = 16000
VOICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "voice"
CLIPS = ("libri-1688/1688-142285-0002.flac", "libri-1688/1688-142285-0009.flac")
SENTENCES = ("The meeting is at the old bridge at nine tonight.",
             "Bring the banner and tell nobody where we are going.")
GAP, EDGE = 1.5, 0.8  # seconds of room noise between the sentences, and before and after
LEAK = 0.2  # seconds of the original pasted back into a muted output


def load(path: Path) -> np.ndarray:
    return np.concatenate(list(read_audio(path, RATE)))


def sentences(folder: Path) -> list[np.ndarray]:
    """Two sentences of one speaker, mono 16 kHz."""
    if all((VOICE / clip).is_file() for clip in CLIPS):
        return [load(VOICE / clip) for clip in CLIPS]
    spoken = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"espeak{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        spoken.append(load(path))
    return spoken


def voiced(samples: np.ndarray) -> tuple[int, int]:
    """The first and last sample of the voiced sound: 20 ms frames within 20 dB of the
    loudest, over 100 Hz (a microphone's pop or rumble is no voice, nor is it compared)."""
    spectrum = np.fft.rfft(samples.astype(np.float64))
    spectrum[np.fft.rfftfreq(len(samples), 1 / RATE) < 100] = 0
    voice = np.fft.irfft(spectrum, len(samples))
    frames = len(voice) // 320
    power = np.square(voice[:frames * 320].reshape(frames, 320)).mean(1)
    loud = np.flatnonzero(10 * np.log10(power + 1e-12) >= 10 * np.log10(power.max()) - 20)
    return int(loud[0]) * 320, (int(loud[-1]) + 1) * 320


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> dict:
    """The original (WAV) and where its speech is: the sentences' voiced samples."""
    folder = tmp_path_factory.mktemp("talk")
    rng = np.random.default_rng(7)
    parts, voiced_at, position = [], [], round(EDGE * RATE)
    for i, sentence in enumerate(sentences(folder)):
        sentence = 0.5 * sentence / np.abs(sentence).max()
        first, last = voiced(sentence)
        voiced_at.append((position + first, position + last))
        parts += [sentence, np.zeros(round((GAP if i == 0 else EDGE) * RATE), np.float32)]
        position += len(sentence) + len(parts[-1])
    sound = np.concatenate([np.zeros(round(EDGE * RATE), np.float32), *parts])
    sound = sound + rng.normal(0, 0.002, len(sound)).astype(np.float32)  # the room
    return {"folder": folder, "path": write_wav(folder / "talk.wav", sound), "sound": sound,
            "voiced": voiced_at}


def anonymized(talk: dict, name: str, voice: str, speech=None) -> Path:
    out = talk["folder"] / name
    if not out.exists():
        blindspot.anonymize_file(talk["path"], out, blindspot.Options(voice=voice),
                                 speech=speech)
    return out


def planted(talk: dict, muted: Path, start: int, name: str) -> Path:
    """The muted output with the original's samples [start, start + LEAK) pasted back, encoded
    as `name` by the product (voice kept)."""
    samples = load(muted)
    stop = start + round(LEAK * RATE)
    samples[start:stop] = talk["sound"][start:stop]
    wav = write_wav(talk["folder"] / f"{name}.planted.wav", samples)
    out = talk["folder"] / name
    blindspot.anonymize_file(wav, out, blindspot.Options(voice="keep"))
    return out


def near(leaks, start: float, end: float, slack: float = 0.1) -> bool:
    """Whether a leak reported overlaps [start, end] by half of it at least, within `slack` s
    of it."""
    return any(min(b, end) - max(a, start) >= (end - start) / 2
               and a >= start - slack and b <= end + slack for a, b in leaks)


def test_the_audit_finds_speech_at_half_the_products_threshold():
    product, audit = SpeechSettings(), audit_speech_settings()
    assert audit.threshold == pytest.approx(product.threshold / 2)
    assert audit.neg_threshold == pytest.approx(product.neg_threshold / 2)
    assert (audit.pad, audit.grow, audit.edges) == (product.pad, product.grow, product.edges)


@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_a_muted_output_passes(talk, suffix):
    out = anonymized(talk, f"mute{suffix}", "mute")
    check = check_sound(out, talk["path"])
    assert check.original_given and check.passed and check.leaks == ()
    assert check.lag == 0.0
    # The speech finder heard both sentences in the original.
    for first, last in talk["voiced"]:
        assert any(s.start <= first / RATE and s.end >= last / RATE for s in check.speech)


def test_an_untouched_output_fails_in_every_sentence(talk):
    copy = talk["folder"] / "copy.wav"
    shutil.copyfile(talk["path"], copy)
    for out in (copy, anonymized(talk, "keep.m4a", "keep")):
        check = check_sound(out, talk["path"])
        assert not check.passed
        for first, last in talk["voiced"]:
            assert any(a < last / RATE and b > first / RATE for a, b in check.leaks)
        assert check.leak_seconds > 0.5 * sum(b - a for a, b in talk["voiced"]) / RATE


def test_the_last_and_first_200_ms_of_speech_left_fail_at_their_times(talk):
    muted = anonymized(talk, "mute.mp3", "mute")
    end = talk["voiced"][-1][1]
    last = check_sound(planted(talk, muted, end - round(LEAK * RATE), "last.mp3"), talk["path"])
    assert not last.passed and near(last.leaks, end / RATE - LEAK, end / RATE)
    assert len(last.leaks) == 1
    start = talk["voiced"][0][0]
    first = check_sound(planted(talk, muted, start, "first.mp3"), talk["path"])
    assert not first.passed and near(first.leaks, start / RATE, start / RATE + LEAK)
    assert len(first.leaks) == 1


def test_a_disguise_leaves_nothing_unless_a_span_is_kept(talk):
    out = anonymized(talk, "disguise.ogg", "disguise")
    disguised = check_sound(out, talk["path"])
    assert disguised.passed, disguised.leaks
    # One sentence disguised, the other left as it was: the second FAILs, at its own times.
    (a, b), (c, d) = talk["voiced"]
    middle = (b + c) / 2 / RATE
    spans = [(Span(0.0, middle), "disguise"), (Span(middle, len(talk["sound"]) / RATE), "keep")]
    half = check_sound(anonymized(talk, "half.ogg", "disguise", spans), talk["path"])
    assert not half.passed
    assert all(start >= middle for start, _ in half.leaks)
    assert any(start < d / RATE and end > c / RATE for start, end in half.leaks)


def test_a_sound_file_gets_the_sound_checks_and_the_report_says_so(talk):
    muted = anonymized(talk, "mute.mp3", "mute")
    end = talk["voiced"][-1][1]
    leaky = talk["folder"] / "last.mp3"
    if not leaky.exists():
        planted(talk, muted, end - round(LEAK * RATE), "last.mp3")
    passed, failed = audit_file(muted, talk["path"]), audit_file(leaky, talk["path"])
    assert passed.sound_only and passed.frames == 0 and passed.verdict == "PASS"
    assert passed.voice is not None and passed.sound is not None and passed.sound.passed
    assert failed.verdict == "FAIL" and failed.sound.leaks and not failed.metadata
    verdict = plain_verdict(failed)
    assert "left as it was" in verdict and f"{failed.sound.leaks[0].start:.2f}" in verdict
    table = terminal_table([passed, failed], AuditSettings())
    assert "SOUND LEFT AS IT WAS" in table and "n/a (sound)" in table
    assert f"sound {failed.sound.leaks[0].start:.2f}" in table
    files = json.loads(json_report([passed, failed], AuditSettings()))["files"]
    assert [f["sound"]["leaks"] for f in files] == \
        [[], [[round(a, 2), round(b, 2)] for a, b in failed.sound.leaks]]
    assert all(f["sound_only"] for f in files)
    page = html_report([passed, failed], AuditSettings())
    assert "sound (FAIL)" in page and "no pictures" in page and "<img" not in page


def test_without_the_original_the_speech_in_the_output_is_reported(talk):
    muted = audit_file(anonymized(talk, "mute.mp3", "mute"))
    assert muted.verdict == "PASS" and muted.sound.speech == () and muted.voice is None
    kept = audit_file(anonymized(talk, "keep.m4a", "keep"))
    assert not kept.sound.original_given and kept.sound.speech_seconds > 3
    assert "needs the original" in plain_verdict(kept)
    assert "no original" in terminal_table([kept], AuditSettings())
    # Identifying tags still FAIL a sound file.
    tagged = talk["folder"] / "tagged.mp3"
    with av.open(str(muted.output)) as source, av.open(str(tagged), "w") as out:
        out.metadata["artist"] = "Jane Doe"
        stream = out.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    result = audit_file(tagged)
    assert result.verdict == "FAIL" and any("Artist" in tag for tag in result.metadata)


def mp4(path: Path, sound: np.ndarray) -> Path:
    """An MP4: a plain grey picture (H.264) and `sound` as AAC, mono 16 kHz."""
    return write_talking_clip(path, sound, RATE)


def test_a_video_with_the_last_200_ms_of_speech_left_fails(talk):
    original = mp4(talk["folder"] / "talk.mp4", talk["sound"])
    muted = talk["folder"] / "talk-muted.mp4"
    blindspot.anonymize_file(original, muted, blindspot.Options(voice="mute"))
    assert check_sound(muted, original).passed
    samples = load(muted)
    end = talk["voiced"][-1][1]
    start = end - round(LEAK * RATE)
    samples[start:end] = talk["sound"][start:end]
    leaky = mp4(talk["folder"] / "talk-leaky.mp4", samples)
    result = audit_file(leaky, original)
    assert result.verdict == "FAIL" and not result.sound_only and not result.leaks
    assert near(result.sound.leaks, start / RATE, end / RATE)
    assert "left as it was" in plain_verdict(result)
