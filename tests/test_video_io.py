"""Video in and out: frames, timestamps, rotation, 10-bit, metadata, audio and bad input.

Every clip is generated here with PyAV: tiny (≤ 160 px, ≤ 40 frames) so the file runs fast.
"""

from __future__ import annotations

import fractions
import io
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from blindspot.errors import BlindspotError
from blindspot.media import video_frame, video_reader, video_writer
from blindspot.media.residue import exiftool_available, exiftool_tags, identifying_tags
from blindspot.media.video_frame import VideoFrame
from blindspot.media.video_reader import probe_video, read_frames
from blindspot.media.video_writer import transcode

W, H = 96, 64
VFR_MS = [0, 33, 70, 100, 180, 200, 233, 300, 333, 400, 410, 500]  # irregular frame times
TAGS = {
    "title": "Secret title", "artist": "Jane Doe", "comment": "met at the square",
    "copyright": "Jane Doe", "creation_time": "2024-05-01T12:00:00Z",
    "location": "+48.8584+002.2945/", "make": "Apple", "model": "iPhone 15",
    "encoder": "MyCam 1.0",
}
STREAM_TAGS = {"handler_name": "Core Media Video", "creation_time": "2024-05-01T12:00:00Z",
               "encoder": "H.264 by MyCam"}
# Tag names that may place, date or identify a person or device, in exiftool's output.
IDENTIFYING = ("Date", "GPS", "Location", "Make", "Model", "Software", "Encoder", "Title",
               "Artist", "Comment", "Copyright", "Author", "UserData", "CompressorName")


def _picture(index: int, width: int = W, height: int = H) -> np.ndarray:
    """Red top-left quarter (to see rotations), blue rising with the frame index."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, : width // 2, 0] = 220
    rgb[..., 2] = min(255, 10 * index)
    return rgb


def make_clip(path: Path, fmt: str, codec: str = "libx264", pts: list[int] | None = None,
              time_base: fractions.Fraction = fractions.Fraction(1, 1000),
              rotation: int | None = None, tags: bool = False, audio: str | None = None,
              subtitle: str | None = None, pix_fmt: str = "yuv420p", size: tuple = (W, H),
              options: dict | None = None, video_frames: bool = True) -> Path:
    """Write a clip with PyAV; `pts` in `time_base` units (default: VFR_MS)."""
    pts = VFR_MS if pts is None else pts
    width, height = size
    with av.open(str(path), "w", format=fmt) as out:
        if tags:
            out.metadata.update(TAGS)
        video = out.add_stream(codec, rate=25, options=options or {})
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = video.codec_context.time_base = time_base
        if tags:
            video.metadata.update(STREAM_TAGS)
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=48000) if audio else None
        if sound is not None:
            sound.layout = "stereo"
            if tags:
                sound.metadata["handler_name"] = "Core Media Audio"
        text = out.add_mux_stream(subtitle) if subtitle else None
        if text is not None:
            text.time_base = fractions.Fraction(1, 1000)
        for index, p in enumerate(pts if video_frames else []):
            frame = av.VideoFrame.from_ndarray(_picture(index, width, height), format="rgb24")
            frame.pts, frame.time_base = p, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_sine(out, sound)
        if text is not None:
            packet = av.Packet(b"\x00\x0eJane Doe, 14h" if subtitle == "mov_text" else b"Jane")
            packet.stream, packet.pts, packet.dts, packet.duration = text, 0, 0, 100
            packet.time_base = fractions.Fraction(1, 1000)
            out.mux(packet)
    return path


def _write_sine(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream) -> None:
    """Half a second of a 440 Hz tone."""
    resampler = av.AudioResampler(format=sound.codec_context.format.name, layout="stereo",
                                  rate=48000)
    for start in range(0, 24000, 960):
        t = np.arange(start, start + 960) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp",
                                           layout="stereo")
        frame.sample_rate, frame.pts = 48000, start
        for resampled in resampler.resample(frame):
            out.mux(sound.encode(resampled))
    out.mux(sound.encode(None))


def run_transcode(src: Path, out_dir: Path, process=None, **kwargs) -> tuple[Path, int]:
    out = out_dir / f"out-{src.stem}{video_writer.output_extension(src.suffix)}"
    with open(out, "wb") as f:
        count = transcode(src, f, src.suffix, process or (lambda frame: frame.rgb), **kwargs)
    return out, count


def frame_times(path: Path) -> list[fractions.Fraction]:
    with av.open(str(path)) as container:
        return [f.pts * f.time_base for f in container.decode(video=0)]


def all_tags(path: Path) -> list[dict[str, str]]:
    with av.open(str(path)) as container:
        return [dict(container.metadata)] + [dict(s.metadata) for s in container.streams]


def identifying_exif(path: Path) -> list[str]:
    """`identifying_tags`, less the structural QuickTime/Matroska track tags it also lists."""
    tags = exiftool_tags(path)
    return [f"{k}={tags[k]}" for k in identifying_tags(tags)
            if any(word.lower() in k.lower() for word in IDENTIFYING)
            or k.split(":")[0] in ("ItemList", "UserData", "Keys", "XMP", "Composite")
            and "Image" not in k and "Megapixels" not in k and "Bitrate" not in k]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "mov": make_clip(d / "phone.mov", "mov", rotation=90, tags=True, audio="aac",
                         subtitle="mov_text"),
        "mp4": make_clip(d / "plain.mp4", "mp4", tags=True, audio="aac"),
        "mkv": make_clip(d / "vfr.mkv", "matroska", tags=True, audio="aac", subtitle="subrip"),
        "webm": make_clip(d / "web.webm", "webm", codec="libvpx-vp9", audio="libopus",
                          options={"deadline": "realtime", "cpu-used": "8"}),
        "avi": make_clip(d / "old.avi", "avi", pts=list(range(12)), audio="pcm_s16le",
                         time_base=fractions.Fraction(1, 25)),
        "hevc10": make_clip(d / "ten.mkv", "matroska", codec="libx265",
                            pix_fmt="yuv420p10le", options={"x265-params": "log-level=error"}),
        "long": make_clip(d / "long.mkv", "matroska", pts=list(range(40)),
                          time_base=fractions.Fraction(1, 25), size=(160, 120)),
    }


# ---------------------------------------------------------------------------- interface


def test_extensions():
    assert {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"} == video_reader.VIDEO_EXTENSIONS
    assert video_writer.output_extension(".AVI") == ".mp4"
    assert video_writer.output_extension(".MOV") == ".mov"
    assert video_writer.output_extension(".webm") == ".webm"


def test_probe_phone_clip(clips):
    info = probe_video(clips["mov"], max_pixels=10**6, max_duration=60)
    assert (info.width, info.height) == (H, W)  # displayed portrait
    assert info.rotation == 270  # 90° counter-clockwise
    assert info.frames == len(VFR_MS) and info.codec == "h264"
    assert info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.audio_streams == 1
    assert info.dropped_streams == ["subtitle (mov_text)"]
    assert 0.4 < info.duration < 0.6 and info.fps > 0
    for name in ("creation_time", "location", "make", "model", "encoder", "handler names",
                 "title", "artist", "comment"):
        assert name in info.metadata


def test_probe_limits(clips):
    with pytest.raises(BlindspotError, match="too large"):
        probe_video(clips["mp4"], max_pixels=W * H - 1, max_duration=60)
    with pytest.raises(BlindspotError, match="too long"):
        probe_video(clips["long"], max_pixels=10**6, max_duration=1.0)


# ---------------------------------------------------------------------------- reading


def test_read_frames_vfr_and_upright(clips):
    frames = list(read_frames(clips["mov"]))
    assert [f.index for f in frames] == list(range(len(VFR_MS)))
    assert [float(f.pts * f.time_base) for f in frames] == pytest.approx(
        [ms / 1000 for ms in VFR_MS], abs=1e-4)
    rgb = frames[0].rgb
    assert rgb.shape == (W, H, 3) and rgb.dtype == np.uint8
    # Turned 90° counter-clockwise: the red top-left quarter is now bottom-left.
    assert rgb[-W // 4, H // 4, 0] > 180 and rgb[W // 4, H // 4, 0] < 40


def test_read_frames_10bit(clips):
    info = probe_video(clips["hevc10"], 10**6, 60)
    assert info.codec == "hevc" and info.bit_depth == 10
    frames = list(read_frames(clips["hevc10"]))
    assert len(frames) == len(VFR_MS)
    assert frames[0].rgb.dtype == np.uint8 and frames[0].rgb.shape == (H, W, 3)
    assert abs(int(frames[0].rgb[H // 4, W // 4, 0]) - 220) < 12  # colours survive


def test_rgb_conversion_is_ffmpegs_and_thread_safe(clips):
    """Frames are converted through one swscale context per thread, kept from frame to frame:
    the pixels are those of PyAV's own `reformat`, however many threads convert at once."""
    import concurrent.futures

    with av.open(str(clips["long"])) as container:
        decoded = list(container.decode(video=0))
    options = {"src_colorspace": "itu601", "src_color_range": "MPEG",
               "dst_color_range": "JPEG"}
    expected = [f.reformat(format="rgb24", **options).to_ndarray() for f in decoded]
    assert all(np.array_equal(video_frame._rgb(f), e)
               for f, e in zip(decoded, expected, strict=True))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(video_frame._rgb, decoded))
            assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def test_hdr_tone_curve():
    for transfer in (16, 18):  # PQ, HLG
        curve = video_frame._tone_curve(transfer)
        assert curve.dtype == np.uint8 and curve[0] == 0 and curve[-1] >= 250
        assert np.all(np.diff(curve.astype(int)) >= 0)


def test_read_frames_streams(clips):
    """A generator: the first frame comes out before the rest of the file is decoded."""
    frames = read_frames(clips["long"])
    first = next(frames)
    assert isinstance(first, VideoFrame) and first.index == 0
    frames.close()


# ---------------------------------------------------------------------------- writing


def test_transcode_mov_keeps_frames_times_and_sound(clips, tmp_path):
    src = clips["mov"]
    out, count = run_transcode(src, tmp_path)
    assert count == len(VFR_MS)
    assert frame_times(out) == frame_times(src)  # same pts, VFR included
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.frames == len(VFR_MS) and video.codec_context.name == "h264"
        assert [s.type for s in container.streams].count("subtitle") == 0
        first = next(container.decode(video))
        assert first.rotation == 0 and (first.width, first.height) == (H, W)
        assert first.format.name == "yuv420p"
        upright = first.to_ndarray(format="rgb24")
        assert upright[-W // 4, H // 4, 0] > 180 and upright[W // 4, H // 4, 0] < 40
    assert _audio_packets(out) == _audio_packets(src)


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


@pytest.mark.parametrize("kind", ["mov", "mp4", "mkv"])
def test_transcode_strips_metadata(clips, tmp_path, kind):
    src = clips[kind]
    out, _ = run_transcode(src, tmp_path)
    before = " ".join(str(t) for t in all_tags(src))
    assert "Jane Doe" in before and "2024" in before  # the test can fail
    for tags in all_tags(out):
        assert not {"creation_time", "location", "make", "model", "title", "artist",
                    "comment", "copyright"} & {k.lower() for k in tags}
        assert tags.get("encoder", tags.get("ENCODER", "Lavf")) == "Lavf"  # no version
        assert tags.get("handler_name", "VideoHandler") in ("VideoHandler", "SoundHandler")
    assert b"x264" not in out.read_bytes()  # x264's SEI with its version and settings
    if exiftool_available():
        assert identifying_exif(src)  # exiftool sees the source's tags…
        assert identifying_exif(out) == []  # …and none in the output


def test_transcode_process_and_no_audio(clips, tmp_path):
    def black(frame: VideoFrame) -> np.ndarray:
        return np.zeros_like(frame.rgb)

    out, count = run_transcode(clips["mkv"], tmp_path, black, keep_audio=False)
    assert count == len(VFR_MS)
    assert frame_times(out) == frame_times(clips["mkv"])
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert all(f.to_ndarray(format="rgb24").max() < 20 for f in container.decode(video=0))


def test_transcode_webm_is_vp9_with_copied_opus(clips, tmp_path):
    out, count = run_transcode(clips["webm"], tmp_path)
    assert count == len(VFR_MS) and out.suffix == ".webm"
    assert frame_times(out) == frame_times(clips["webm"])
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.audio[0].codec_context.name == "opus"
    assert _audio_packets(out) == _audio_packets(clips["webm"])


def test_transcode_avi_becomes_mp4_with_aac(clips, tmp_path):
    out, count = run_transcode(clips["avi"], tmp_path)
    assert out.suffix == ".mp4" and count == 12
    assert frame_times(out) == [fractions.Fraction(i, 25) for i in range(12)]
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 48000
        assert abs(float(audio.duration * audio.time_base) - 0.5) < 0.03


def test_transcode_10bit_to_8bit(clips, tmp_path):
    out, count = run_transcode(clips["hevc10"], tmp_path)
    assert count == len(VFR_MS)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert next(container.decode(stream)).format.name == "yuv420p"


def test_transcode_odd_size(tmp_path):
    src = make_clip(tmp_path / "odd.mp4", "mp4", pts=list(range(5)), size=(97, 65),
                    pix_fmt="yuv444p", time_base=fractions.Fraction(1, 25))
    out, count = run_transcode(src, tmp_path)
    assert count == 5
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (98, 66)


def test_transcode_refuses_a_wrong_shape(clips, tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        run_transcode(clips["mp4"], tmp_path, lambda frame: frame.rgb[:10])


# ---------------------------------------------------------------------------- bad input


def _check_refused(path: Path, match: str, tmp_path: Path) -> None:
    with pytest.raises(BlindspotError, match=match):
        probe_video(path, 10**6, 60)
        list(read_frames(path))  # only when probing passes
    with pytest.raises(BlindspotError, match=match):
        list(read_frames(path))
    with pytest.raises(BlindspotError, match=match):
        transcode(path, io.BytesIO(), path.suffix, lambda frame: frame.rgb)


def test_refuses_empty_and_garbage(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _check_refused(empty, "empty file", tmp_path)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).bytes(20_000))
    _check_refused(garbage, "not a supported video", tmp_path)
    missing = tmp_path / "missing.mp4"
    _check_refused(missing, "no such file", tmp_path)


def test_refuses_a_picture_named_mp4(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.mp4"
    Image.fromarray(_picture(0)).save(path, "PNG")
    _check_refused(path, "not a supported video", tmp_path)


def test_refuses_audio_only(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        _write_sine(out, sound)
    _check_refused(path, "no video stream", tmp_path)


def test_refuses_zero_frames(tmp_path):
    path = make_clip(tmp_path / "none.mkv", "matroska", audio="aac", video_frames=False)
    with pytest.raises(BlindspotError, match="no video frames"):
        list(read_frames(path))
    with pytest.raises(BlindspotError, match="no video frames"):
        transcode(path, io.BytesIO(), ".mkv", lambda frame: frame.rgb)


@pytest.mark.parametrize("faststart", [False, True])
def test_refuses_truncated_mp4(clips, tmp_path, faststart):
    src = clips["mp4"]
    if faststart:  # the index first: the cut loses frames, not the index
        src = make_clip(tmp_path / "fast.mp4", "mp4", pts=list(range(40)),
                        time_base=fractions.Fraction(1, 25), size=(160, 120))
        data = _remux(src, {"movflags": "+faststart"})
    else:  # the index (moov) last: the cut loses it
        data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    with pytest.raises(BlindspotError, match="damaged" if faststart else "moov"):
        list(read_frames(cut))
    with pytest.raises(BlindspotError):
        transcode(cut, io.BytesIO(), ".mp4", lambda frame: frame.rgb)


def _remux(src: Path, options: dict) -> bytes:
    out = src.with_name("remuxed.mp4")
    with av.open(str(src)) as source, av.open(str(out), "w", options=options) as dest:
        stream = dest.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dest.mux(packet)
    return out.read_bytes()


def test_refuses_truncated_mkv(clips, tmp_path):
    data = clips["long"].read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    with pytest.raises(BlindspotError, match="ends early"):
        list(read_frames(cut))
    with pytest.raises(BlindspotError, match="ends early"):
        transcode(cut, io.BytesIO(), ".mkv", lambda frame: frame.rgb)


@pytest.mark.parametrize("fmt,suffix", [("matroska", ".mkv"), ("avi", ".avi")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refuses_corrupted_middle(tmp_path, fmt, suffix, seed):
    src = make_clip(tmp_path / f"src{suffix}", fmt, pts=list(range(40)), size=(160, 120),
                    time_base=fractions.Fraction(1, 25))
    assert len(list(read_frames(src))) == 40  # the intact file decodes
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = np.random.default_rng(seed).bytes(2000)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(bytes(data))
    with pytest.raises(BlindspotError):
        list(read_frames(bad))
    with pytest.raises(BlindspotError):
        transcode(bad, io.BytesIO(), suffix, lambda frame: frame.rgb)


def test_the_writer_thread_calls_in_order_and_raises_the_first_error_in_the_caller() -> None:
    done: list[int] = []
    with video_writer._InOrder(2) as later:
        for i in range(50):
            later(done.append, i)
    assert done == list(range(50))

    def fail(i: int) -> None:
        raise OSError(f"disk full at {i}")

    done.clear()
    with pytest.raises(OSError, match="disk full at 3"), video_writer._InOrder(2) as later:
        for i in range(50):
            later(fail if i in (3, 7) else done.append, i)
    assert done == [0, 1, 2]  # nothing after the first error


def test_the_writer_thread_is_stopped_by_an_error_in_the_caller() -> None:
    started, gate = threading.Event(), threading.Event()
    done: list[int] = []

    def slow(i: int) -> None:
        started.set()
        gate.wait(5)
        done.append(i)

    opener = threading.Timer(0.3, gate.set)  # after the error below
    with pytest.raises(ValueError, match="decoding"), video_writer._InOrder(4) as later:
        for i in range(3):
            later(slow, i)
        assert started.wait(5)
        opener.start()
        raise ValueError("decoding failed")
    # Left by an error: the call running finishes, those waiting are skipped, and the
    # caller's error is the one raised.
    assert done == [0]
