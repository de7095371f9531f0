"""Voices: the span editor keeps the timing and edits only the speech; `--voice` end to end."""

from __future__ import annotations

import numpy as np
import pytest

from blindspot.audio.edit import FADE, SpanEditor
from blindspot.audio.speech import Span

RATE = 8000


def tone(seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * channels).astype(np.float32)


def run(editor: SpanEditor, samples: np.ndarray, chunk: int) -> np.ndarray:
    out, starts = [], []
    for start in range(0, samples.shape[-1], chunk):
        for piece, first in editor.push(samples[:, start:start + chunk], start):
            out.append(piece)
            starts.append(first)
    for piece, first in editor.finish():
        out.append(piece)
        starts.append(first)
    joined = np.concatenate(out, axis=-1)
    assert starts == sorted(starts) and starts[0] == 0  # in order, nothing lost or repeated
    assert joined.shape == samples.shape
    return joined


@pytest.mark.parametrize("chunk", [1024, 997, 100_000])
def test_mute_silences_the_spans_only(chunk):
    sound = tone(3.0)
    spans = [Span(1.0, 1.5), Span(2.2, 2.4)]
    out = run(SpanEditor([(s, "mute") for s in spans], RATE), sound, chunk)
    for span in spans:
        a, b = round(span.start * RATE), round(span.end * RATE)
        assert not out[:, a:b].any()
    fade = round(FADE * RATE)
    assert np.array_equal(out[:, :RATE - fade], sound[:, :RATE - fade])
    assert np.array_equal(out[:, 2 * RATE:round(2.2 * RATE) - fade],
                          sound[:, 2 * RATE:round(2.2 * RATE) - fade])
    ramp = np.abs(out[:, RATE - fade:RATE]).max()
    assert 0 < ramp <= 0.5  # a ramp, not a cut


@pytest.mark.parametrize("chunk", [1024, 333])
def test_disguise_transforms_the_spans_and_keeps_the_timing(chunk):
    sound = tone(3.0)
    spans = [Span(0.5, 1.0), Span(2.0, 2.9)]
    seen = []

    def transform(samples: np.ndarray, rate: int, start: int) -> np.ndarray:
        seen.append(samples.shape[-1])
        return -samples  # any change, the same length

    out = run(SpanEditor([(s, "disguise") for s in spans], RATE, {"disguise": transform}),
              sound, chunk)
    for span in spans:
        a, b = round(span.start * RATE), round(span.end * RATE)
        assert np.allclose(out[:, a:b], -sound[:, a:b])
    fade = round(FADE * RATE)
    assert np.array_equal(out[:, :round(0.5 * RATE) - fade], sound[:, :round(0.5 * RATE) - fade])
    assert np.array_equal(out[:, round(1.0 * RATE) + fade:2 * RATE - fade],
                          sound[:, round(1.0 * RATE) + fade:2 * RATE - fade])
    assert len(seen) == 2  # each span transformed whole, once


def test_each_span_gets_its_own_edit():
    sound = tone(2.0, 1)
    starts = []

    def revoice(x: np.ndarray, rate: int, start: int) -> np.ndarray:
        starts.append(start)
        return np.full_like(x, 0.25)  # a new sound, whatever the old

    out = run(SpanEditor([(Span(0.2, 0.6), "mute"), (Span(1.0, 1.4), "disguise"),
                          (Span(1.6, 1.8), "revoice")], RATE,
                         {"disguise": lambda x, rate, start: 0.5 * x, "revoice": revoice}),
              sound, 500)
    assert not out[:, round(0.2 * RATE):round(0.6 * RATE)].any()
    assert np.allclose(out[:, RATE:round(1.4 * RATE)], 0.5 * sound[:, RATE:round(1.4 * RATE)])
    assert np.allclose(out[:, round(1.6 * RATE):round(1.8 * RATE)], 0.25)
    assert starts and all(s % 500 == 0 for s in starts)  # told where each piece starts


def test_mute_wins_where_it_overlaps_a_disguise():
    sound = tone(2.0, 1)
    out = run(SpanEditor([(Span(0.2, 1.4), "disguise"), (Span(0.6, 1.0), "mute")], RATE,
                         {"disguise": lambda x, rate, start: 0.5 * x}), sound, 500)
    assert not out[:, round(0.6 * RATE):round(1.0 * RATE)].any()
    assert np.allclose(out[:, round(0.3 * RATE):round(0.5 * RATE)],
                       0.5 * sound[:, round(0.3 * RATE):round(0.5 * RATE)])


def test_editor_refuses_unknown_edits():
    with pytest.raises(ValueError):
        SpanEditor([(Span(0, 1), "pitch")], RATE)
    for edit in ("disguise", "revoice"):
        with pytest.raises(ValueError):
            SpanEditor([(Span(0, 1), edit)], RATE)


# ---------------------------------------------------------------------------- end to end

SPEECH = "The meeting is at the old bridge at nine tonight. Bring the banner and tell nobody."


def espeak(tmp_path, text: str = SPEECH) -> tuple[np.ndarray, int]:
    """Real speech, synthesized by espeak-ng: mono float32 and its rate."""
    import subprocess
    import wave
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return data.astype(np.float32) / 32768, rate


def clip_with_speech(tmp_path, picture: np.ndarray) -> tuple[object, float, float, int]:
    """An MP4 (AAC mono): 1.5 s of a quiet hum, the speech over the hum, then 2 s of hum.
    Returns (path, speech start s, speech end s, rate)."""
    import av
    speech, rate = espeak(tmp_path)
    before, after = round(1.5 * rate), 2 * rate
    total = before + len(speech) + after
    t = np.arange(total) / rate
    sound = (0.05 * np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    sound[before:before + len(speech)] += 0.8 * speech
    path = tmp_path / "talk.mp4"
    fps = 10
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for index in range(int(total / rate * fps)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, total, 1024):
            chunk = sound[start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path, before / rate, (before + len(speech)) / rate, rate


def sound_of(path) -> tuple[np.ndarray, int, str]:
    import av
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, rate = stream.codec_context.name, stream.codec_context.sample_rate
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
    return np.concatenate(chunks).astype(np.float32), rate, codec


def db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


@pytest.fixture(scope="module")
def talk(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("talk")
    return clip_with_speech(folder, np.ascontiguousarray(astronaut[::4, ::4]))


def test_mute_removes_the_speech_and_keeps_the_rest(talk, tmp_path):
    from blindspot.audio.speech import SpeechSettings, speech_spans
    from blindspot.options import Options
    from blindspot.run.pipeline import anonymize_file

    path, start, end, rate = talk
    result = anonymize_file(path, tmp_path / "out.mp4", Options(voice="mute"))
    assert result.speech is not None and result.speech.spans
    assert "muted" in result.summary()
    found = result.speech.spans
    assert found[0].start <= start + 0.3 and found[-1].end >= end - 0.3
    original, _, _ = sound_of(path)
    muted, out_rate, codec = sound_of(tmp_path / "out.mp4")
    assert codec == "aac" and out_rate == rate
    assert abs(len(muted) - len(original)) <= 2048  # the timing kept (encoder padding aside)
    a, b = round(start * rate), round(end * rate)
    assert db(muted[a:b]) <= db(original[a:b]) - 30
    # The model finds no speech left where the original spoke (the hum's onset after the
    # muted stretch may score as a little speech, after it).
    left = speech_spans(muted, rate, SpeechSettings(pad=0, merge_gap=0, grow=0, edges=0))
    assert all(span.end <= start or span.start >= end for span in left)
    hum = slice(round(0.2 * rate), round(1.0 * rate))  # before the speech, never padded
    assert abs(db(muted[hum]) - db(original[hum])) < 1.0


def test_keep_says_how_much_speech_is_kept(talk, tmp_path):
    from blindspot.cli import main
    path, start, end, _ = talk
    report = tmp_path / "r.json"
    assert main([str(path), "-o", str(tmp_path / "kept.mp4"), "--report", str(report)]) == 0
    import json
    entry = json.loads(report.read_text())["files"][0]
    assert entry["speech"] and {voice for *_, voice in entry["speech"]} == {"keep"}
    spoken = sum(b - a for a, b, _ in entry["speech"])
    assert end - start - 0.5 <= spoken <= end - start + 1.5


def test_disguise_changes_the_speech_and_keeps_the_rest_and_the_timing(talk, tmp_path):
    from blindspot.options import Options
    from blindspot.run.pipeline import anonymize_file

    path, start, end, rate = talk
    result = anonymize_file(path, tmp_path / "out.mp4", Options(voice="disguise"))
    assert "disguised" in result.summary()
    original, _, _ = sound_of(path)
    changed, out_rate, codec = sound_of(tmp_path / "out.mp4")
    assert codec == "aac" and out_rate == rate
    assert abs(len(changed) - len(original)) <= 2048
    a, b = round(start * rate), round(end * rate)
    # The voice is another (not the same samples), about as loud (each frame keeps its energy).
    assert np.corrcoef(changed[a:b], original[a:b])[0, 1] < 0.5
    assert abs(db(changed[a:b]) - db(original[a:b])) < 2
    hum = slice(round(0.2 * rate), round(1.0 * rate))
    assert abs(db(changed[hum]) - db(original[hum])) < 1.0


def test_the_audit_fails_a_kept_voice_and_passes_a_muted_one(talk, tmp_path):
    from blindspot.audit import AuditSettings, audit_file
    from blindspot.audit.report import json_report, plain_verdict, terminal_table
    from blindspot.options import Options
    from blindspot.run.pipeline import anonymize_file

    path = talk[0]
    results = {}
    for voice in ("keep", "mute"):
        anonymize_file(path, tmp_path / f"{voice}.mp4", Options(voice=voice))
        results[voice] = audit_file(tmp_path / f"{voice}.mp4", path)
    kept, muted = results["keep"], results["mute"]
    # The kept voice is the original's (through AAC): a match, a FAIL that says what to do.
    assert kept.verdict == "FAIL" and len(kept.voice.matches) == 1
    assert kept.voice.max_similarity > 0.95
    assert "--voice mute" in plain_verdict(kept)
    # The muted one holds no voice of the speaker where the original spoke: a PASS (the
    # hum's onset after the muted stretch may be compared, and match nothing).
    assert muted.voice is not None and not muted.voice.matches
    assert muted.voice.speech_seconds > 3 and muted.voice.left_seconds < 0.5
    assert muted.verdict == "PASS"
    table = terminal_table([kept, muted], AuditSettings())
    assert "VOICE MATCHES" in table
    import json
    voices = [f["voice"] for f in json.loads(json_report([kept, muted], AuditSettings()))["files"]]
    assert [v["matches"] for v in voices] == [1, 0]
    # Without the original there is nothing to compare the voice with.
    assert audit_file(tmp_path / "keep.mp4").voice is None
