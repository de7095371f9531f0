"""`--voice revoice`, end to end with the real recognizer (Whisper base on faster-whisper),
the real synthetic voice (hibari), the real speaker encoder and PyAV's encoders; no mocks.

The speech is espeak-ng's: two voices for an interview (a low male and a high female
variant), and Russian. Whisper base does not name espeak-ng's Russian as Russian (it hears
French or Latin), but never as English, which is what the mute of another language needs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from soundfiles import write_wav

import blindspot
from blindspot.audio import revoice
from blindspot.audio.revoice import Line, fit, group_speakers, srt
from blindspot.audio.speaker import embed, similarity
from blindspot.audio.speech import Span
from blindspot.audit import audit_file, check_sound
from blindspot.errors import BlindspotError
from blindspot.media.sound import read_audio

pytest.importorskip("faster_whisper", reason="the voice extra: pip install '.[voice]'")
pytest.importorskip("hibari", reason="the voice extra: pip install '.[voice]'")

RATE = 16000
ASK = ("-v", "en-us", "-p", "30", "-s", "150")  # the interviewer: low, male
ANSWER = ("-v", "en+f4", "-p", "80", "-s", "160")  # the source: high, female
INTERVIEW = [
    (ASK, "Good morning. Thank you for meeting me here today, I know it was not easy."),
    (ANSWER, "It was not. They watch the gate every evening, so I came by the river path."),
    (ASK, "Can you tell me what you saw on the night of the fire at the warehouse?"),
    (ANSWER, "I saw two trucks arrive after midnight, and the men carried boxes out."),
]
RUSSIAN = "Здравствуйте, меня зовут Анна. Я живу в этом доме уже десять лет."
PAUSE = 0.8  # seconds between turns: more than the finder merges (0.5 s), so spans per turn


def speak(folder: Path, name: str, voice: tuple[str, ...], text: str) -> np.ndarray:
    path = folder / f"{name}.wav"
    subprocess.run(["espeak-ng", *voice, "-w", str(path), text], check=True,
                   capture_output=True)
    return load(path)


def load(path: Path) -> np.ndarray:
    return np.concatenate(list(read_audio(path, RATE)))


def joined(pieces: list[np.ndarray], pause: float = PAUSE) -> tuple[np.ndarray, list[tuple]]:
    """The pieces one after another with `pause` s of quiet noise around each, and each
    piece's (start, end) in seconds."""
    rng = np.random.default_rng(0)
    gap = int(pause * RATE)
    out, times, t = [], [], 0
    for piece in pieces:
        out.append(np.zeros(gap, np.float32))
        t += gap
        out.append(piece)
        times.append((t / RATE, (t + len(piece)) / RATE))
        t += len(piece)
    out.append(np.zeros(gap, np.float32))
    sound = np.concatenate(out)
    return sound + rng.normal(0, 3e-4, len(sound)).astype(np.float32), times


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("13", "thirteen"))


def kept(said: str, heard: str) -> float:
    """The share of the words of `said` that `heard` has, in order (longest common
    subsequence)."""
    a, b = words(said), words(heard)
    table = np.zeros((len(a) + 1, len(b) + 1), int)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1, j + 1] = table[i, j] + 1 if x == y else max(table[i, j + 1],
                                                                      table[i + 1, j])
    return table[-1, -1] / max(1, len(a))


def heard(path: Path) -> str:
    recognizer, _ = revoice.load()
    return " ".join(text for *_, text in recognizer.transcribe(load(path))[1])


@pytest.fixture(scope="module")
def interview(tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    folder = tmp_path_factory.mktemp("interview")
    pieces = [speak(folder, f"turn{i}", voice, text)
              for i, (voice, text) in enumerate(INTERVIEW)]
    sound, times = joined(pieces)
    return write_wav(folder / "interview.wav", sound), times


@pytest.fixture(scope="module")
def revoiced(interview, tmp_path_factory) -> tuple[Path, blindspot.FileResult]:
    out = tmp_path_factory.mktemp("out") / "interview.anon.flac"
    result = blindspot.anonymize_file(interview[0], out, blindspot.Options(voice="revoice"))
    return out, result


def test_the_same_words_come_out(interview, revoiced):
    out, result = revoiced
    said = " ".join(text for _, text in INTERVIEW)
    assert kept(said, heard(out)) >= 0.85
    assert " ".join(line.text for line in result.lines)  # the lines the voices said
    assert "revoiced (2 new voices)" in result.summary()


def test_the_original_voice_is_gone(interview, revoiced):
    original, times = interview
    out, _ = revoiced
    a, b = load(original), load(out)
    for start, end in times:
        s, e = round(start * RATE), round(end * RATE)
        # not the speaker's voice: below what the encoder gives one voice (SAME_SPEAKER)
        assert similarity(embed(a[s:e]), embed(b[s:e])) < revoice.SAME_SPEAKER
    check = check_sound(out, original)  # no stretch of the original's waveform left
    assert check is not None and check.passed


def test_the_audit_passes_a_revoiced_output_and_fails_a_planted_turn(interview, revoiced,
                                                                     tmp_path):
    original, times = interview
    out, _ = revoiced
    result = audit_file(out, original)
    # the new voices are nearer blindspot's synthetic voices than the speakers: no match
    assert result.voice is not None and result.voice.compared and not result.voice.matches
    assert result.passed
    planted = load(out)
    start, end = (round(t * RATE) for t in times[1])
    planted[start:end] = load(original)[start:end]  # the source's answer as it was
    leaky = audit_file(write_wav(tmp_path / "planted.wav", planted), original)
    assert not leaky.passed and not leaky.sound.passed
    assert leaky.sound.leaks[0].start == pytest.approx(times[1][0], abs=0.3)


def test_two_speakers_get_two_voices(interview, revoiced):
    out, result = revoiced
    spoken = [line for line in result.lines if line.edit == "revoice"]
    assert [line.speaker for line in spoken] == [0, 1, 0, 1]
    b = load(out)
    prints = [embed(b[round(x.start * RATE):round(x.end * RATE)]) for x in spoken]
    assert similarity(prints[0], prints[1]) < revoice.SAME_SPEAKER  # two voices
    assert similarity(prints[0], prints[2]) > similarity(prints[0], prints[1])
    assert similarity(prints[1], prints[3]) > similarity(prints[1], prints[0])


def test_an_edited_transcript_is_what_the_output_says(interview, revoiced, tmp_path):
    _, result = revoiced
    lines = [replace(line, text=line.text.replace("warehouse", "market"))
             if "warehouse" in line.text else line for line in result.lines]
    assert lines != result.lines
    out = tmp_path / "edited.wav"
    blindspot.anonymize_file(interview[0], out, blindspot.Options(voice="revoice"),
                             speech=result.speech_edits, lines=lines)
    said = heard(out).lower()
    assert "market" in said and "warehouse" not in said
    # a line removed: its time is silent, the rest is said
    kept_lines = [line for line in result.lines if "fire" not in line.text]
    quiet = tmp_path / "removed.wav"
    blindspot.anonymize_file(interview[0], quiet, blindspot.Options(voice="revoice"),
                             speech=result.speech_edits, lines=kept_lines)
    removed = next(line for line in result.lines if "fire" in line.text)
    b = load(quiet)
    assert not b[round(removed.start * RATE):round(removed.end * RATE)].any()
    assert "fire" not in heard(quiet).lower()
    with pytest.raises(ValueError, match="lines need speech"):
        blindspot.anonymize_file(interview[0], tmp_path / "x.wav", lines=lines)


def test_a_line_too_long_for_its_time_is_compressed_never_cut_or_spilled(interview, tmp_path):
    text = ("This is a very long sentence that nobody could say in one and a half seconds, "
            "however fast they talk.")
    out = tmp_path / "squeezed.wav"
    result = blindspot.anonymize_file(interview[0], out, blindspot.Options(voice="revoice"),
                                      speech=[(Span(1.0, 2.5), "revoice")],
                                      lines=[Line(1.0, 2.5, text, "en")])
    assert "1 line compressed in time to fit" in result.summary()
    a, b = load(interview[0]), load(out)
    after = round((2.5 + 0.03) * RATE)
    assert np.array_equal(b[after:], a[after:])  # nothing spilled past the span
    assert np.abs(b[round(1.0 * RATE):round(2.5 * RATE)]).max() > 0.05  # said in it


def test_a_language_without_a_voice_is_muted(tmp_path):
    english = speak(tmp_path, "en", ASK, INTERVIEW[0][1])
    russian = speak(tmp_path, "ru", ("-v", "ru+f3"), RUSSIAN)
    # the answer 0.3 s after the question: one span, Whisper's language from its start
    sound, times = joined([english, russian], pause=0.3)
    src = write_wav(tmp_path / "mixed.wav", sound)
    out = tmp_path / "mixed.anon.wav"
    result = blindspot.anonymize_file(src, out, blindspot.Options(voice="revoice"))
    assert "not in English muted" in result.summary()
    muted = [line for line in result.lines if line.edit == "mute"]
    assert muted and all(line.language != "en" for line in muted)
    b = load(out)
    start, end = times[1]
    assert not b[round((start + 0.3) * RATE):round((end - 0.1) * RATE)].any()
    assert kept(INTERVIEW[0][1], heard(out)) >= 0.8  # the English stays


def test_transcript_is_what_the_new_voices_say(interview, tmp_path):
    srt_file = tmp_path / "said.srt"
    out = tmp_path / "out.wav"
    done = subprocess.run([sys.executable, "-m", "blindspot", str(interview[0]), "-o", str(out),
                           "--voice", "revoice", "--transcript", str(srt_file)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = srt_file.read_text(encoding="utf-8")
    assert text.startswith("1\n00:00:0") and "[voice 2]" in text
    assert kept(" ".join(t for _, t in INTERVIEW), text) >= 0.85
    refused = subprocess.run([sys.executable, "-m", "blindspot", str(interview[0]),
                              str(interview[0]), "-o", str(tmp_path / "many"), "--voice",
                              "revoice", "--transcript", str(tmp_path / "x.srt")],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--transcript takes one input" in refused.stderr


def test_a_video_is_revoiced_in_time(tmp_path, astronaut):
    from test_voice import SPEECH, clip_with_speech, sound_of
    path, start, end, rate = clip_with_speech(tmp_path, np.ascontiguousarray(astronaut[::4, ::4]))
    out = tmp_path / "talk.anon.mp4"
    result = blindspot.anonymize_file(path, out, blindspot.Options(voice="revoice"))
    assert "revoiced (1 new voice)" in result.summary() and result.frames > 0
    original, _, _ = sound_of(path)
    sound, out_rate, codec = sound_of(out)
    assert codec == "aac" and out_rate == rate and abs(len(sound) - len(original)) <= 2048
    recognizer, _ = revoice.load()
    words_heard = recognizer.transcribe(revoice.to_rate(sound, rate, RATE))[1]
    assert kept(SPEECH, " ".join(t for *_, t in words_heard)) >= 0.8
    # the new voice starts where the speaker did (the hum around is at RMS 0.035)
    n = round(0.02 * rate)
    rms = np.sqrt(np.mean(np.square(sound[:len(sound) // n * n].reshape(-1, n)), axis=1))
    onset = np.nonzero(rms > 0.1)[0][0] * 0.02
    assert abs(onset - start) < 0.25


def test_srt_never_holds_muted_words():
    lines = [Line(0.5, 2.25, "Hello there.", "en", 0),
             Line(3.0, 4.0, "Privet", "ru", 1, "mute")]
    text = srt(lines)
    assert "00:00:00,500 --> 00:00:02,250\n[voice 1] Hello there." in text
    assert "Privet" not in text and "[muted: speech in ru]" in text


def test_without_the_extra_it_is_one_line_with_the_install_command(interview, tmp_path):
    out = tmp_path / "out.wav"
    block = ("import sys; sys.modules['faster_whisper'] = None; "
             "from blindspot.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", block, str(interview[0]), "-o", str(out),
                           "--voice", "revoice"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "pip install 'blindspot[voice]'" in done.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_model_that_is_not_the_pinned_one_is_refused(monkeypatch):
    monkeypatch.setitem(revoice.WHISPER_SHA256, "config.json", "0" * 64)
    with pytest.raises(BlindspotError, match="not the pinned one"):
        revoice.Recognizer()


def test_fit_compresses_what_is_too_long_and_keeps_the_pitch():
    rate = 24000
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert fit(tone, rate, 2 * rate) is tone  # short enough: as it is
    short = fit(tone, rate, rate // 2)
    assert len(short) <= rate // 2 and len(short) > 0.45 * rate
    spectrum = np.abs(np.fft.rfft(short[:8192] * np.hanning(8192)))
    assert abs(np.argmax(spectrum) * rate / 8192 - 220) < 6  # the same pitch, not 440 Hz


def test_group_speakers_joins_alike_voices():
    a, b = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    near_a = (a + 0.2 * b) / np.linalg.norm(a + 0.2 * b)
    assert group_speakers([a, b, None, near_a, b]) == [0, 1, 1, 0, 1]
    assert group_speakers([None, a]) == [0, 0]
