"""Sound files: every container in and out, the speech muted to the first and last sample, no
tag left, and bad files refused with one line and nothing written."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from soundfiles import TAGS, decode, write_sound

from blindspot import Options, anonymize_file
from blindspot.cli import main
from blindspot.media.residue import exiftool_available, exiftool_tags, identifying_tags

SPEECH = "The meeting is at the old bridge at nine tonight. Bring the banner."
# Output extension → the codec the output holds (the source's family; Vorbis becomes FLAC) and
# the samples of one codec frame (the length may differ by one: encoder padding).
CODECS = {".wav": ("pcm_s16le", 1), ".flac": ("flac", 1), ".mp3": ("mp3", 1152),
          ".m4a": ("aac", 1024), ".aac": ("aac", 1024), ".ogg": ("opus", 960),
          ".opus": ("opus", 960)}


def say(tmp_path: Path, text: str) -> tuple[np.ndarray, int]:
    """espeak-ng saying `text`: mono float32 and its rate, silence around it trimmed."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed for the sound tests (apt-get install espeak-ng)")
    path = tmp_path / f"say-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.nonzero(np.abs(x) > 0.02)[0]
    return 0.8 * x[loud[0]:loud[-1] + 1], rate


def noise(seconds: float, rate: int, level: float = 0.003, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(round(seconds * rate)) * level
            ).astype(np.float32)


def db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    return say(tmp_path_factory.mktemp("speech"), SPEECH)


@pytest.fixture(scope="module")
def talk(speech) -> tuple[np.ndarray, int, slice]:
    """1 s of quiet noise, the speech over it, 1 s of noise; and where the speech is."""
    voice, rate = speech
    x = noise(2 + len(voice) / rate, rate)
    x[rate:rate + len(voice)] += voice
    return x, rate, slice(rate, rate + len(voice))


def tags_left(path: Path) -> list[str]:
    if not exiftool_available():
        pytest.fail("exiftool judges the metadata (apt-get install libimage-exiftool-perl)")
    return identifying_tags(exiftool_tags(path))


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_each_container_comes_out_muted_untagged_and_as_long(talk, tmp_path, suffix):
    x, rate, spoken = talk
    src = write_sound(tmp_path / f"talk{suffix}", x, rate, TAGS)
    before = src.read_bytes()
    assert tags_left(src)  # the input does carry identifying tags
    out = tmp_path / f"talk.anon{suffix}"
    result = anonymize_file(src, out, Options())  # a sound file's default: mute
    assert "muted" in result.summary() and "artist" in result.summary()
    assert src.read_bytes() == before
    original, in_rate, _ = decode(src)
    muted, out_rate, codec = decode(out)
    expected, frame = CODECS[suffix]
    assert codec.removesuffix("float") == expected and out_rate == in_rate
    assert abs(len(muted) - len(original)) <= frame
    assert tags_left(out) == []
    # The speech is gone (lossy codecs leave a little pre-echo at the edges of the silence).
    scale = out_rate / rate
    inside = slice(round(spoken.start * scale), round(spoken.stop * scale))
    assert db(muted[inside]) <= db(original[inside]) - 40
    # The noise far from the speech is kept.
    head = slice(0, round(0.5 * out_rate))
    assert abs(db(muted[head]) - db(original[head])) < 1.5


def test_ogg_vorbis_comes_out_as_ogg_flac(talk, tmp_path):
    x, rate, _ = talk
    stereo = np.stack([x, x])
    src = write_sound(tmp_path / "talk.ogg", stereo, rate, TAGS, codec="vorbis")
    out = tmp_path / "talk.anon.ogg"
    anonymize_file(src, out, Options())
    muted, out_rate, codec = decode(out)
    assert codec == "flac" and out_rate == rate
    assert tags_left(out) == []


def test_a_lossless_output_on_request(talk, tmp_path):
    x, rate, _ = talk
    src = write_sound(tmp_path / "talk.mp3", x, rate, TAGS)
    out = tmp_path / "talk.flac"
    assert main([str(src), "-o", str(out)]) == 0
    assert decode(out)[2] == "flac" and decode(out)[1] == rate


def wav(path: Path, x: np.ndarray, rate: int) -> Path:
    return write_sound(path, x, rate)


def pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def test_speech_at_the_first_and_the_last_sample_is_muted_to_the_edge(speech, tmp_path):
    voice, rate = speech
    # Cut mid-word at both ends: loud from the first sample to the last.
    cut = voice[round(0.05 * len(voice)):round(0.93 * len(voice))]
    src = wav(tmp_path / "cut.wav", cut, rate)
    out = tmp_path / "cut.anon.wav"
    anonymize_file(src, out, Options(voice="mute"))
    samples = pcm(out)
    assert len(samples) == len(pcm(src))
    assert not samples.any()  # every sample, the first and the last included


@pytest.mark.parametrize("where", ["end", "start"])
def test_a_lone_yes_at_an_edge_is_muted(tmp_path, where):
    yes, rate = say(tmp_path, "yes")
    assert 0.2 < len(yes) / rate < 0.5
    bed = noise(3.0, rate)
    x = np.concatenate([bed, yes] if where == "end" else [yes, bed])
    src = wav(tmp_path / "yes.wav", x, rate)
    out = tmp_path / "yes.anon.wav"
    result = anonymize_file(src, out, Options())
    assert "muted" in result.summary()
    samples = pcm(out)
    spoken = slice(len(bed), None) if where == "end" else slice(0, len(yes))
    assert not samples[spoken].any()
    # and most of the noise bed is kept
    kept = samples[:len(bed) - rate // 2] if where == "end" else samples[len(yes) + rate // 2:]
    assert np.count_nonzero(kept) > 0.9 * len(kept)


def test_a_word_cut_to_a_tenth_of_a_second_by_the_end_is_muted(tmp_path):
    """The leak of the issue: a span cut to 0.1 s by the end was dropped as too short."""
    yes, rate = say(tmp_path, "yes")
    x = np.concatenate([noise(3.0, rate), yes[:round(0.1 * rate)]])
    src = wav(tmp_path / "cut.wav", x, rate)
    out = tmp_path / "cut.anon.wav"
    anonymize_file(src, out, Options())
    assert not pcm(out)[-round(0.1 * rate):].any()


def test_stereo_speech_on_one_channel_is_muted_on_both(speech, tmp_path):
    voice, rate = speech
    left = np.concatenate([noise(1, rate), voice, noise(1, rate, seed=1)])
    right = noise(len(left) / rate, rate, seed=2)
    src = write_sound(tmp_path / "stereo.flac", np.stack([left, right]), rate)
    out = tmp_path / "stereo.anon.flac"
    anonymize_file(src, out, Options())
    import av
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.channels == 2
        planar = av.AudioResampler(format="s16p", layout="stereo", rate=rate)
        both = np.concatenate([p.to_ndarray() for f in c.decode(audio=0)
                               for p in planar.resample(f)], axis=-1)
    assert both.shape[0] == 2 and both[1, :rate // 2].any()
    assert not both[:, rate:rate + len(voice)].any()


def test_silence_only_is_kept_sample_for_sample_and_says_no_speech(tmp_path):
    rate = 16000
    x = noise(3.0, rate)
    src = wav(tmp_path / "room.wav", x, rate)
    out = tmp_path / "room.anon.wav"
    result = anonymize_file(src, out, Options())
    assert "no speech found" in result.summary()
    assert np.array_equal(pcm(out), pcm(src))


def test_keep_is_a_choice_and_says_the_voice_is_left(talk, tmp_path):
    x, rate, _ = talk
    src = wav(tmp_path / "talk.wav", x, rate)
    result = anonymize_file(src, tmp_path / "kept.wav", Options(voice="keep"))
    assert "kept: voices identify people" in result.summary()
    assert np.array_equal(pcm(tmp_path / "kept.wav"), pcm(src))


def test_disguise_changes_the_voice_and_keeps_the_length(talk, tmp_path):
    x, rate, spoken = talk
    src = wav(tmp_path / "talk.wav", x, rate)
    anonymize_file(src, tmp_path / "d.wav", Options(voice="disguise"))
    a, b = pcm(src).astype(np.float32), pcm(tmp_path / "d.wav").astype(np.float32)
    assert len(a) == len(b)
    assert np.corrcoef(a[spoken], b[spoken])[0, 1] < 0.5


# ---------------------------------------------------------------------------- the CLI


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_folder_of_sound_and_photos_and_resume(talk, tmp_path, capsys, astronaut):
    from PIL import Image
    x, rate, _ = talk
    folder = tmp_path / "in"
    folder.mkdir()
    write_sound(folder / "memo.m4a", x, rate, TAGS)
    Image.fromarray(astronaut).save(folder / "photo.jpg")
    report = tmp_path / "r.json"
    code, out, err = run(capsys, str(folder), "-o", str(tmp_path / "out"), "--report",
                         str(report))
    assert code == 0, err
    assert "memo.m4a" in out and "muted" in out and "photo.jpg" in out
    assert (tmp_path / "out" / "memo.m4a").exists() and (tmp_path / "out" / "photo.jpg").exists()
    import json
    entries = {Path(e["output"]).name: e for e in json.loads(report.read_text())["files"]}
    assert {voice for *_, voice in entries["memo.m4a"]["speech"]} == {"mute"}
    code, out, err = run(capsys, str(folder), "-o", str(tmp_path / "out"), "--resume")
    assert code == 0 and out.count("skipped") == 2


def test_detect_lists_the_speech_of_a_sound_file(talk, tmp_path, capsys):
    x, rate, spoken = talk
    src = wav(tmp_path / "talk.wav", x, rate)
    code, out, _ = run(capsys, "detect", str(src), "--json")
    import json
    spans = json.loads(out)[str(src)]
    assert code == 0 and spans and all(kind == "speech" for *_, kind in spans)
    assert spans[0][0] <= spoken.start / rate and spans[-1][1] >= spoken.stop / rate


def _video_named_mp3(tmp_path: Path) -> Path:
    import av
    path = tmp_path / "clip.mp3"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


BAD = {
    "empty.wav": (lambda p: p.write_bytes(b""), "empty file"),
    # STREAMINFO of garbage: FFmpeg reads a sound of 65,536 s
    "header.flac": (lambda p: p.write_bytes(b"fLaC\x00\x00\x00\x22" + b"\xff" * 200),
                    "sound too long"),
    "header.wav": (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
                                           + b"\x00" * 16 + b"data\x00\x00\x00\x00"),
                   "not a supported sound file"),
    "noise.mp3": (lambda p: p.write_bytes(np.random.default_rng(1).bytes(4000)),
                  "not a supported sound file"),
    "photo.mp3": (lambda p: p.write_bytes(_jpeg()), "not a supported sound file"),
    "notes.txt": (lambda p: p.write_text("hello"), "not a photo, video or sound file"),
}


def _jpeg() -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 20, 20)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", [*sorted(BAD), "clip.mp3"])
def test_bad_sound_files_get_one_line_and_no_output(tmp_path, capsys, name):
    if name == "clip.mp3":
        path, expected = _video_named_mp3(tmp_path), "holds a video stream"
    else:
        make, expected = BAD[name]
        path = tmp_path / name
        make(path)
    before = path.read_bytes()
    code, out, err = run(capsys, str(path))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"blindspot: error: {path}: ")
    assert expected in lines[0] and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written
    assert path.read_bytes() == before


def test_no_audio_on_a_sound_file_is_refused(talk, tmp_path, capsys):
    x, rate, _ = talk
    src = wav(tmp_path / "talk.wav", x, rate)
    code, _, err = run(capsys, str(src), "--no-audio")
    assert code == 1 and "--no-audio would leave nothing" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.wav"]


# ---------------------------------------------------------------------------- found by fuzzing


def test_fuzz_sound_tags_that_are_not_utf8_are_read_and_removed(tmp_path, capsys):
    """fuzz `sound`: a WAV whose LIST/INFO artist is Latin-1 made PyAV raise UnicodeDecodeError
    on opening (videos' tags too); they are read with replacement characters now."""
    import struct
    src = wav(tmp_path / "latin.wav", noise(1.0, 16000), 16000)
    data = src.read_bytes()
    value = b"Jos\xe9 Mart\xf2\x00"
    info = b"INFO" + b"IART" + struct.pack("<I", len(value)) + value
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = data[12:] + chunk
    src.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    code, out, err = run(capsys, str(src))
    assert code == 0, err
    assert "artist" in out and tags_left(tmp_path / "latin.anon.wav") == []


def test_fuzz_a_sound_whose_rate_changes_mid_stream_is_refused(tmp_path, capsys):
    """fuzz `sound`: MP3 frames at another rate after the first ones made PyAV's resampler
    raise ValueError; blindspot refuses such a stream (never edits it in a guess)."""
    first = write_sound(tmp_path / "a.mp3", noise(1.0, 16000, 0.1), 16000)
    second = write_sound(tmp_path / "b.mp3", noise(1.0, 22050, 0.1), 22050)
    joined = tmp_path / "joined.mp3"
    tail = second.read_bytes()
    if tail[:3] == b"ID3":  # the second file's frames only, without its ID3v2 header
        size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(tail[6:10]))
        tail = tail[size:]
    joined.write_bytes(first.read_bytes() + tail)
    code, _, err = run(capsys, str(joined))
    assert code == 1 and "change mid-stream" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "joined.anon.mp3").exists()
