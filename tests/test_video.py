"""The video path end to end: every frame's face covered, sound kept, report written."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import ASTRONAUT_FACE

import blindspot
import blindspot.run.video as video
from blindspot.media.residue import exiftool_tags, identifying_tags
from blindspot.media.video_reader import probe_video
from blindspot.run.pipeline import video_detectors
from blindspot.run.video import anonymize_video

FPS = 25
FRAMES = 40
STEP = 4  # px the face moves per frame


def _scene(index: int, astronaut: np.ndarray) -> np.ndarray:
    """A 320×240 frame: the astronaut's head moving right, with a plain background."""
    frame = np.full((240, 320, 3), 90, np.uint8)
    head = astronaut[20:220, 150:300][::2, ::2]  # 100×75
    x = 20 + STEP * index
    frame[60:160, x:x + 75] = head
    return frame


def _face_box(index: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = ASTRONAUT_FACE  # in the full picture; the head crop starts at (150, 20)
    dx = 20 + STEP * index
    return (dx + (x1 - 150) // 2, 60 + (y1 - 20) // 2, dx + (x2 - 150) // 2, 60 + (y2 - 20) // 2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut):
    """An MP4 with a moving face, a sine tone, and identifying container tags."""
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    with av.open(str(path), "w") as out:
        out.metadata.update({"title": "Jane at the march", "artist": "Jane Example",
                             "location": "+52.5200+013.4050/", "make": "ExampleCam",
                             "model": "X100 Pro", "creation_time": "2026-05-01T14:03:22Z"})
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for index in range(FRAMES):
            for packet in video.encode(av.VideoFrame.from_ndarray(_scene(index, astronaut),
                                                                  "rgb24")):
                out.mux(packet)
        samples = 16000 * FRAMES // FPS
        tone = (0.3 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[None, start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
            for packet in audio.encode(frame):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_every_frame_of_a_moving_face_is_covered(tmp_path, clip):
    out = tmp_path / "walk.anon.mp4"
    result = blindspot.anonymize_file(clip, out)
    frames = _frames(out)
    assert len(frames) == FRAMES == result.frames
    for index, frame in enumerate(frames):
        x1, y1, x2, y2 = _face_box(index)
        centre = frame[y1 + 10:y2 - 10, x1 + 8:x2 - 8].astype(int)
        assert centre.mean() < 30, f"face visible in frame {index}"
    background = frames[0][200:235, 250:315].astype(int)
    assert abs(background.mean() - 90) < 8


def test_no_frame_leaks_when_detection_runs_rarely(tmp_path, clip):
    """With detection on every 5th frame only, tracking must still cover every frame."""
    out = tmp_path / "walk.anon.mp4"
    blindspot.anonymize_file(clip, out, blindspot.Options(detect_every=5))
    for index, frame in enumerate(_frames(out)):
        x1, y1, x2, y2 = _face_box(index)
        assert frame[y1 + 10:y2 - 10, x1 + 8:x2 - 8].mean() < 30, f"frame {index} leaks"


def test_sound_kept_and_metadata_gone(tmp_path, clip):
    assert identifying_tags(exiftool_tags(clip)), "the fixture must carry metadata"
    out = tmp_path / "walk.anon.mp4"
    blindspot.anonymize_file(clip, out)
    with av.open(str(out)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert not {"title", "artist", "location", "make", "model", "creation_time"} & set(
            container.metadata)
    assert identifying_tags(exiftool_tags(out)) == []
    silent = tmp_path / "walk.silent.mp4"
    blindspot.anonymize_file(clip, silent, blindspot.Options(keep_audio=False))
    with av.open(str(silent)) as container:
        assert [s.type for s in container.streams] == ["video"]


def test_cli_report_names_outputs_only(tmp_path, clip):
    report = tmp_path / "report.json"
    out = tmp_path / "published.mp4"
    run = subprocess.run([sys.executable, "-m", "blindspot", str(clip), "-o", str(out),
                          "--report", str(report), "--detect-every", "3"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    text = report.read_text()
    data = json.loads(text)
    entry = data["files"][0]
    assert entry["output"] == "published.mp4" and entry["frames"] == FRAMES
    assert len(entry["frames_boxes"]) == FRAMES and all(entry["frames_boxes"])
    assert data["settings"]["detect_every"] == 3 and data["model"]["name"] == "centerface"
    assert "walk" not in text and "sha256" not in json.dumps(entry)
    run = subprocess.run([sys.executable, "-m", "blindspot", str(clip), "-o", str(out),
                          "--force", "--report", str(report), "--report-hashes"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    entry = json.loads(report.read_text())["files"][0]
    assert entry["input"] == str(clip) and len(entry["input_sha256"]) == 64


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_video_gives_one_line_and_no_output(tmp_path, clip, cut):
    data = clip.read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: int(len(data) * cut)])
    before = src.read_bytes()
    run = subprocess.run([sys.executable, "-m", "blindspot", str(src)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"blindspot: error: {src}: ")
    assert "Traceback" not in run.stderr + run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]
    assert src.read_bytes() == before


def test_folder_walk_takes_videos_and_names_avi_output_mp4(tmp_path, clip):
    from blindspot.run.outputs import plan_outputs
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.avi").write_bytes(b"")
    (tmp_path / "in" / "b.mov").write_bytes(b"")
    jobs, problems = plan_outputs([str(tmp_path / "in")], tmp_path / "out", "anon")
    assert not problems
    assert sorted(out.name for _, out in jobs) == ["a.mp4", "b.mov"]
    jobs, _ = plan_outputs([str(tmp_path / "in" / "a.avi")], None, "anon")
    assert jobs[0][1].name == "a.anon.mp4"


def test_detection_and_the_render_at_once_cover_what_the_two_steps_cover(tmp_path, clip):
    """anonymize_file renders while it detects; the boxes are those of detecting the whole
    video first (detect_file) and rendering them after."""
    options = blindspot.Options(detect_every=3)
    at_once = blindspot.anonymize_file(clip, tmp_path / "a.mp4", options)
    found = blindspot.detect_file(clip, options)
    two_steps = blindspot.anonymize_file(clip, tmp_path / "b.mp4", options, detections=found)
    assert len(at_once.detections) == len(two_steps.detections) == FRAMES
    for a, b in zip(at_once.detections, two_steps.detections, strict=True):
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.kinds, b.kinds)
    assert (at_once.faces, at_once.uncertain) == (two_steps.faces, two_steps.uncertain)


class _Gated:
    """A video detector that counts its calls and, on its `gate`-th call, waits (60 s at most,
    else fails saying `what`) until `opened()` is true, or raises `error` there instead; each
    call takes at least `slow` seconds."""

    def __init__(self, inner, gate: int = 0, opened=None, error: Exception | None = None,
                 slow: float = 0.0, what: str = "") -> None:
        self.inner, self.gate, self.opened, self.error = inner, gate, opened, error
        self.slow, self.what = slow, what
        self.calls = 0

    def detect(self, rgb, near=None, before=None):
        self.calls += 1
        time.sleep(self.slow)
        if self.calls == self.gate:
            if self.error is not None:
                raise self.error
            deadline = time.monotonic() + 60
            while not self.opened():
                assert time.monotonic() < deadline, self.what
                time.sleep(0.01)
        return self.inner.detect(rgb, near, before)


def _stream(clip, out, light, thorough, options):
    info = probe_video(clip, options.max_pixels, options.max_duration)
    return anonymize_video(clip, out, options, info, light, thorough,
                           lambda dets: (dets, ["solid"] * len(dets)), lambda: None)


def test_the_render_starts_while_detection_goes_on(tmp_path, clip, monkeypatch):
    """The light detector's run on frame 36 of 40 waits until a frame has been covered: it
    would wait forever if the render began only after detection. (The thorough detector every
    8th frame: the render trails detection by about `extend` frames, and by `confirm` more
    while a weak box waits for the frames after it, 8 + 8 here, 24 + 24 at the defaults.)"""
    options = blindspot.Options(full_every=8)
    light, thorough = video_detectors(options)
    rendered = threading.Event()
    redact = video.redact

    def covering(*args, **kwargs):
        rendered.set()
        return redact(*args, **kwargs)

    monkeypatch.setattr(video, "redact", covering)
    gated = _Gated(light, gate=5, opened=rendered.is_set,  # light runs: 4, 12, 20, 28, 36
                   what="the render never started")
    boxes = _stream(clip, tmp_path / "o.mp4", gated, thorough, options)
    assert len(boxes) == FRAMES and gated.calls == 5
    assert len(_frames(tmp_path / "o.mp4")) == FRAMES


def test_an_error_in_detection_stops_the_render_and_leaves_no_output(tmp_path, clip):
    options = blindspot.Options()
    light, thorough = video_detectors(options)
    failing = _Gated(light, gate=7, error=blindspot.BlindspotError("the detector broke"))
    with pytest.raises(blindspot.BlindspotError, match="the detector broke"):
        _stream(clip, tmp_path / "o.mp4", failing, thorough, options)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("blindspot-")]


def test_an_error_in_the_render_stops_detection_and_leaves_no_output(tmp_path, clip,
                                                                     monkeypatch):
    options = blindspot.Options(full_every=8)  # the render starts early (see above)
    light, thorough = video_detectors(options)
    counted = _Gated(light, gate=0, slow=0.3)  # time for the render's error to stop it

    def broken(*args, **kwargs):
        raise blindspot.BlindspotError("the disk is full")

    monkeypatch.setattr(video, "redact", broken)
    with pytest.raises(blindspot.BlindspotError, match="the disk is full"):
        _stream(clip, tmp_path / "o.mp4", counted, thorough, options)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("blindspot-")]
    assert counted.calls < 5, "detection went on to the end after the render failed"


class _OneByOne:
    """A ThreadPoolExecutor that runs each call at once, in the caller's thread."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def submit(self, fn, *args):
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def test_thorough_runs_start_ahead_of_the_light_runs_and_find_the_same(clip, monkeypatch):
    """The light run on frame 4 waits until the thorough detector has started on frame 24 too:
    it would wait forever if the thorough runs waited their turn. The boxes are those of
    running everything one by one."""
    options = blindspot.Options()
    light, thorough = video_detectors(options)
    counted = _Gated(thorough)
    gated = _Gated(light, gate=1, opened=lambda: counted.calls >= 2,
                   what="the thorough run did not start ahead")
    ahead = video.detect_frames(clip, options, gated, counted)
    assert counted.calls == 3  # frames 0, 24 and the last one
    monkeypatch.setattr(video, "ThreadPoolExecutor", _OneByOne)
    one_by_one = video.detect_frames(clip, options, light, thorough)
    assert [d is None for d in ahead] == [d is None for d in one_by_one]
    for a, b in zip(ahead, one_by_one, strict=True):
        assert a is None or np.array_equal(a.boxes, b.boxes)
