"""Batches on one machine: several workers cover the same faces as one, a file that fails (or
kills its worker) fails alone, an interrupted run resumes without redoing anything, --device."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from skimage import data as skdata

from blindspot.detect.onnx import CUDA_PROVIDER, providers
from blindspot.options import Options
from blindspot.run import batch
from blindspot.run.batch import SPLIT_WORKERS, Task, run_local, split_done, threads_per_worker

HAS_CUDA = CUDA_PROVIDER in ort.get_available_providers()


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindspot.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def make_photos(folder: Path, count: int) -> list[Path]:
    """`count` small photos: the astronaut at several sizes, flipped, and a cup of coffee."""
    folder.mkdir(parents=True, exist_ok=True)
    astronaut = skdata.astronaut()
    paths = []
    for index in range(count):
        if index % 4 == 3:
            picture = skdata.coffee()[::2, ::2]
        else:
            picture = astronaut[:, ::-1] if index % 2 else astronaut
            side = 256 + 64 * (index % 3)
            picture = np.asarray(Image.fromarray(picture).resize((side, side)))
        path = folder / f"photo{index:02d}.{'png' if index % 5 == 4 else 'jpg'}"
        Image.fromarray(np.ascontiguousarray(picture)).save(path)
        paths.append(path)
    return paths


def make_clip(path: Path, frames: int = 12) -> Path:
    """A tiny MP4: the astronaut's head moving right over a grey background."""
    head = skdata.astronaut()[20:220, 150:300][::2, ::2]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 240, 160, "yuv420p"
        for index in range(frames):
            frame = np.full((160, 240, 3), 90, np.uint8)
            frame[30:130, 10 + 6 * index:85 + 6 * index] = head
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))
        out.mux(stream.encode(None))
    return path


def report_boxes(path: Path) -> dict[str, list[list[list[float]]]]:
    """{output name: boxes per frame} from a `--report` file."""
    return {entry["output"]: entry["frames_boxes"]
            for entry in json.loads(path.read_text())["files"]}


def assert_same_faces(a: dict, b: dict, tolerance: float = 1.0) -> None:
    """Same files, same frames, same boxes within `tolerance` px (and a face in some)."""
    assert a.keys() == b.keys()
    faces = 0
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for frame_a, frame_b in zip(a[name], b[name], strict=True):
            assert len(frame_a) == len(frame_b), name
            if frame_a:
                boxes_a = np.array([row[:4] for row in frame_a], float)
                boxes_b = np.array([row[:4] for row in frame_b], float)
                assert np.abs(boxes_a - boxes_b).max() <= tolerance, name
                faces += len(frame_a)
    assert faces > 0


def outputs_complete(folder: Path) -> list[str]:
    """The outputs in `folder`, each checked to decode in full; no temporary file left."""
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    for name in names:
        if name.endswith(".mp4"):
            with av.open(str(folder / name)) as video:
                assert sum(1 for _ in video.decode(video=0)) > 0
        else:
            with Image.open(folder / name) as image:
                image.load()
    return names


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch") / "in"
    make_photos(folder, 5)
    make_clip(folder / "clip.mp4")
    return folder


def test_two_workers_cover_the_same_faces_as_one(inputs: Path, tmp_path: Path) -> None:
    one = run_cli(inputs, "-o", tmp_path / "one", "--workers", "1", "--threads", "1",
                  "--report", tmp_path / "one.json", cwd=tmp_path)
    two = run_cli(inputs, "-o", tmp_path / "two", "--report", tmp_path / "two.json",
                  "--workers", "2", cwd=tmp_path)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "6 of 6 files done, 0 failed" in two.stderr
    assert len(two.stdout.splitlines()) == 6
    assert_same_faces(report_boxes(tmp_path / "one.json"), report_boxes(tmp_path / "two.json"))
    assert outputs_complete(tmp_path / "one") == outputs_complete(tmp_path / "two")


def test_a_bad_file_fails_alone(inputs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_photos(folder, 3)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    result = run_cli(folder, "-o", tmp_path / "out", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("blindspot:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0], result.stderr
    assert "3 of 4 files done, 1 failed" in result.stderr
    assert outputs_complete(tmp_path / "out") == ["photo00.jpg", "photo01.jpg", "photo02.jpg"]


class _KillsItsWorker(Task):
    """Anonymizes, but a file named crash.jpg kills the process (as the OOM killer would)."""

    def run(self, src: Path, out: Path):  # noqa: ANN201
        if src.name == "crash.jpg":
            os._exit(9)
        return super().run(src, out)


def test_a_worker_that_dies_fails_only_its_file(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "in", 4)
    crash = photos[0].with_name("crash.jpg")
    photos[0].rename(crash)
    jobs = [(src, tmp_path / "out" / src.name) for src in [crash, *photos[1:]]]
    outcomes = {o.source.name: o for o in run_local(_KillsItsWorker("anonymize"), jobs, 2)}
    assert set(outcomes) == {src.name for src, _ in jobs}
    assert "worker process died" in outcomes["crash.jpg"].error
    assert all(o.result is not None for name, o in outcomes.items() if name != "crash.jpg")
    assert outputs_complete(tmp_path / "out") == sorted(p.name for p in photos[1:])


class _DiesAfterAnotherWrote(Task):
    """crash.jpg kills its worker once photo01.jpg's output is written, while photo01's worker
    has not reported it yet."""

    def run(self, src: Path, out: Path):  # noqa: ANN201
        if src.name == "crash.jpg":
            deadline = time.monotonic() + 60
            while not (out.parent / "photo01.jpg").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os._exit(9)
        result = super().run(src, out)
        if src.name == "photo01.jpg":
            time.sleep(1.0)
        return result


def test_a_file_done_when_another_worker_died_is_done_again_not_failed(tmp_path: Path) -> None:
    """A worker dies while another has written its file but not reported it yet: that file's
    result is lost with the pool, so it runs again (its output is this batch's own, not a
    file to refuse to overwrite)."""
    photos = make_photos(tmp_path / "in", 3)
    crash = photos[0].with_name("crash.jpg")
    photos[0].rename(crash)
    jobs = [(src, tmp_path / "out" / src.name) for src in [crash, *photos[1:]]]
    outcomes = {o.source.name: o for o in run_local(_DiesAfterAnotherWrote("anonymize"), jobs,
                                                     2)}
    assert "worker process died" in outcomes["crash.jpg"].error
    assert outcomes["photo01.jpg"].error is None and outcomes["photo01.jpg"].result is not None
    assert outputs_complete(tmp_path / "out") == sorted(p.name for p in photos[1:])


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_interrupted_batch_resumes_without_redoing_anything(tmp_path: Path, stop) -> None:
    """Stopped (killed, or Ctrl-C) mid-batch, then run again with --resume: every output ends
    complete, those of the first run are kept as they were, none is processed twice."""
    # 40 photos: after the first output the rest take seconds, not the fraction of a second
    # in which a loaded machine may not run this test's loop at all (with 10, the batch once
    # ended before the Ctrl-C came, and exited 0).
    count = 40
    make_photos(tmp_path / "in", count)
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "blindspot.cli", "in", "-o", "out",
                              "--workers", "2"], cwd=tmp_path, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir())):
        assert first.poll() is None and time.monotonic() < deadline, "no output appeared"
        time.sleep(0.02)
    os.killpg(first.pid, stop)  # the whole process group, as Ctrl-C or a shutdown does
    first.communicate(timeout=60)
    if stop == signal.SIGINT:
        assert first.returncode == 130
    if stop == signal.SIGKILL:  # a hard kill may leave a temporary file: never an output
        assert all(p.name.endswith(".tmp") for p in out.iterdir() if p.name.startswith("."))
    kept = {p.name: p.stat() for p in out.iterdir() if not p.name.startswith(".")}
    assert 0 < len(kept) < count, "the run was not interrupted midway"
    for name in kept:
        with Image.open(out / name) as image:
            image.load()

    second = run_cli("in", "-o", "out", "--workers", "2", "--resume", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    skipped = {line.split(" -> ")[1].split(":")[0].removeprefix("out/")
               for line in second.stdout.splitlines() if "skipped" in line}
    processed = {line.split(" -> ")[1].split(":")[0].removeprefix("out/")
                 for line in second.stdout.splitlines() if "covered" in line}
    assert skipped == set(kept) and not processed & skipped
    assert len(skipped) + len(processed) == count
    assert (f"{count} of {count} files done ({len(kept)} of them before, skipped), 0 failed"
            in second.stderr)
    assert len(outputs_complete(out)) == count
    for name, before in kept.items():  # untouched: same file, same time
        after = (out / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_resume_and_force_contradict(inputs: Path, tmp_path: Path) -> None:
    result = run_cli(inputs, "-o", tmp_path / "out", "--resume", "--force", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--resume" in result.stderr and not (tmp_path / "out").exists()


def test_split_done_removes_stale_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "done.jpg").write_bytes(b"complete")
    stale = tmp_path / ".todo.jpg.abc123.tmp"
    stale.write_bytes(b"half")
    jobs = [(Path("a.jpg"), tmp_path / "done.jpg"), (Path("b.jpg"), tmp_path / "todo.jpg")]
    assert split_done(jobs) == (jobs[1:], jobs[:1])
    assert not stale.exists()


def test_threads_share_the_cores() -> None:
    assert threads_per_worker(1, cores=2) == 2
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(3, cores=2) == 1
    assert threads_per_worker(4, cores=16) == 4
    assert Task("anonymize").with_threads(3).options.threads == 3
    assert Task("anonymize", Options(threads=1)).with_threads(3).options.threads == 1


@pytest.mark.skipif(HAS_CUDA, reason="ONNX Runtime has its CUDA provider here")
def test_cuda_without_a_cuda_provider_is_one_line(inputs: Path, tmp_path: Path) -> None:
    result = run_cli(inputs / "photo00.jpg", "-o", tmp_path / "a.jpg", "--device", "cuda",
                     cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "CUDA provider" in result.stderr and not (tmp_path / "a.jpg").exists()
    assert providers("auto") == ["CPUExecutionProvider"]
    auto = run_cli(inputs / "photo00.jpg", "-o", tmp_path / "b.jpg", "--device", "auto",
                   cwd=tmp_path)
    assert auto.returncode == 0 and (tmp_path / "b.jpg").exists(), auto.stderr


def test_bad_workers_option(inputs: Path, tmp_path: Path) -> None:
    result = run_cli(inputs, "--workers", "0", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("blindspot: error: ")


def _swinging_head(clip: Path) -> None:
    """150 frames of 240×160: a head swings left and right, across a 2-range split's seam."""
    head = skdata.astronaut()[20:220, 150:300][::2, ::2]
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 240, 160, "yuv420p"
        for index in range(150):  # the head swings left and right, across both ranges' seam
            x = 10 + round(70 * (1 + np.sin(index / 9)))
            frame = np.full((160, 240, 3), 90, np.uint8)
            frame[30:130, x:x + 75] = head
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))
        out.mux(stream.encode(None))


def test_one_long_video_split_over_workers_covers_what_one_run_covers(tmp_path: Path) -> None:
    clip = tmp_path / "long.mp4"
    _swinging_head(clip)
    task = Task("anonymize", Options(threads=1))
    [one] = run_local(task, [(clip, tmp_path / "one.mp4")], workers=1)
    [two] = run_local(task, [(clip, tmp_path / "two.mp4")], workers=SPLIT_WORKERS)
    assert one.error is None and two.error is None, (one.error, two.error)
    assert len(one.result.detections) == len(two.result.detections) == 150
    for a, b in zip(one.result.detections, two.result.detections, strict=True):
        assert len(a) == len(b) >= 1
        assert np.abs(a.boxes - b.boxes).max() <= 1.0
    with av.open(str(tmp_path / "two.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 150


def test_one_video_on_two_workers_runs_in_one_process(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # On 2 cores one process, detecting and rendering at once, is faster than a split run.
    clip = tmp_path / "long.mp4"
    _swinging_head(clip)

    def refused(*args: object) -> None:
        raise AssertionError("split")
    monkeypatch.setattr(batch, "split_video", refused)
    [one] = run_local(Task("anonymize", Options(threads=1)), [(clip, tmp_path / "o.mp4")],
                      workers=SPLIT_WORKERS - 1)
    assert one.error is None and len(one.result.detections) == 150
