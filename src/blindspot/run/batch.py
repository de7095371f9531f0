"""Many files at once: worker processes, each with its own model session, sharing the cores.

`run_local(task, jobs, workers)` anonymizes (or cleans) each (input, output) pair and yields
one `Outcome` per file as it finishes. With several workers each process gets `cores // workers`
ONNX Runtime and OpenCV threads, so together they never ask for more threads than there are
cores; the longest files start first so that no worker is left with one long video at the end.
A file that fails, even by killing its worker process, fails alone: the others go on.

Resume: outputs are written atomically (`media/atomic.py`), so an output that exists is complete.
`split_done` sets those files aside, and a run started again with `--resume` redoes only the
rest. The same runner serves `cluster.py`, which hands the files to Ray instead of a pool.

Over 400 lines, on purpose: the local worker pool, resuming, and one long video split over
workers share the job and outcome types and the interrupt handling.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import functools
import glob
import multiprocessing
import os
import signal
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import BlindspotError
from ..media.sound import is_sound, probe_sound
from ..options import Options
from ..progress import listening
from .pipeline import FileResult, anonymize_file, clean_file, is_video

Job = tuple[Path, Path]  # (input, output)
VERBS = ("anonymize", "clean")


@dataclass(frozen=True)
class Task:
    """What every file of a batch gets: `verb` ("anonymize" or "clean") with `options`."""

    verb: str
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        if self.verb not in VERBS:
            raise ValueError(f"verb must be one of {', '.join(VERBS)}, not {self.verb!r}")

    def run(self, src: Path, out: Path) -> FileResult:
        work = anonymize_file if self.verb == "anonymize" else clean_file
        return work(src, out, self.options)

    def with_threads(self, threads: int) -> Task:
        """The same task with `threads` ONNX Runtime threads per process (unless set already)."""
        if self.options.threads:
            return self
        return replace(self, options=replace(self.options, threads=threads))


@dataclass
class Outcome:
    """One file of a batch: its result, or the one-line reason it failed (no output then)."""

    source: Path
    output: Path
    result: FileResult | None = None
    error: str | None = None


def run_one(task: Task, src: Path, out: Path) -> Outcome:
    """Run `task` on one file; a failure becomes the outcome's one-line error."""
    try:
        return Outcome(src, out, task.run(src, out))
    except BlindspotError as e:
        return Outcome(src, out, error=str(e))
    except Exception as e:  # noqa: BLE001 - one file's bug must not stop the batch
        return Outcome(src, out, error=internal_error(e, src))


def internal_error(error: BaseException, path: Path) -> str:
    """The one line for a bug of ours (the traceback too, on stderr, with BLINDSPOT_DEBUG)."""
    if os.environ.get("BLINDSPOT_DEBUG"):
        traceback.print_exception(error)
    return (f"{path}: internal error ({type(error).__name__}: {error}); no output was written. "
            "Set BLINDSPOT_DEBUG=1 for details")


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """ONNX Runtime intra-op threads for each of `workers` processes: the cores shared out."""
    return max(1, (cores or available_cores()) // max(1, workers))


def split_done(jobs: Iterable[Job]) -> tuple[list[Job], list[Job]]:
    """(jobs still to do, jobs whose output exists and is therefore complete).

    Temporary files that an interrupted run left beside an output still to do are removed
    (they are never the output: only a finished write is renamed to the output's name)."""
    todo, done = [], []
    for src, out in jobs:
        if out.exists():
            done.append((src, out))
        else:
            todo.append((src, out))
            _remove_stale_temps(out)
    return todo, done


def _remove_stale_temps(out: Path) -> None:
    pattern = os.path.join(glob.escape(str(out.parent)), f".{glob.escape(out.name[:80])}.*.tmp")
    for stale in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(stale)


@functools.lru_cache(maxsize=1 << 17)
def estimate(src: Path) -> tuple[int, int]:
    """(frames, cost) of one input, read from its header only: the frames for the progress
    bar (a sound file: 1), the cost (frames × pixels, roughly) to start the longest files
    first. (1, 0) when the header can't be read: the file's own run will say why."""
    try:
        if is_video(src):
            import av
            # Absolute path, file protocol only: `http:x.mp4` is a file here, not a URL.
            with av.open(os.path.abspath(src),
                         container_options={"protocol_whitelist": "file"}) as container:
                stream = container.streams.video[0]
                frames = stream.frames or round(float((stream.duration or 0)
                                                      * (stream.time_base or 0)
                                                      * (stream.average_rate or 0)))
                pixels = stream.codec_context.width * stream.codec_context.height
                frames = max(1, frames)
                # A frame costs decoding, detection and encoding: a fixed part and a part
                # that grows with its size.
                return frames, frames * (pixels + 250_000)
        if is_sound(src):
            # A second of sound (speech finding, editing, encoding) costs about a third of a
            # 720p frame's work.
            return 1, round(probe_sound(src, float("inf")).duration * 400_000)
        from PIL import Image
        with Image.open(src) as image:
            frames = max(1, getattr(image, "n_frames", 1))
            return frames, frames * (image.width * image.height + 250_000)
    except Exception:  # noqa: BLE001 - only an estimate
        return 1, 0


def run_local(task: Task, jobs: list[Job], workers: int | None = None) -> Iterator[Outcome]:
    """Each job's outcome, in the order they finish, from `workers` processes (default: one per
    core; one, or a single job, runs in this process)."""
    workers = max(1, workers or available_cores())
    if (len(jobs) == 1 and workers >= SPLIT_WORKERS and task.verb == "anonymize"
            and is_video(jobs[0][0])):
        yield split_video(task, jobs[0], workers)
        return
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        if task.options.threads:
            limit_threads(task.options.threads)
        for src, out in jobs:
            yield run_one(task, src, out)
        return
    task = task.with_threads(threads_per_worker(workers))
    order = sorted(jobs, key=lambda job: -estimate(job[0])[1])
    yield from _pooled(task, order, workers)


# A video shorter than this many frames per worker is not worth splitting.
MIN_FRAMES_PER_RANGE = 64
# A single video is split over workers only when there are at least this many. One process
# already runs detection and the render at once (`video.anonymize_video`, about 1.7 cores
# busy); split, the ranges' detection runs in parallel but the render only after it. On 2
# cores the split run was the slower (the 275-frame stage clip 5.95 s against 4.89 s).
SPLIT_WORKERS = 3


def split_video(task: Task, job: Job, workers: int) -> Outcome:
    """One video with its detection pass split into `workers` frame ranges, each run in its
    own process; then tracking over the whole video (tracks run across the seams as if the
    pass had been one) and the render pass here. The boxes are those of a single run."""
    src, out = job
    frames, _ = estimate(src)
    workers = min(workers, frames // MIN_FRAMES_PER_RANGE)
    if workers < 2:
        return run_one(task, src, out)
    # Ranges start on thorough frames: the light detector's runs follow what the run before
    # found, from the last thorough frame on, so each range finds what one run finds.
    step = max(1, task.options.full_every)
    starts = sorted({round(i * frames / workers / step) * step for i in range(workers)})
    if len(starts) < 2:
        return run_one(task, src, out)
    workers = len(starts)
    bounds: list[int | None] = [*starts, None]
    ranged = task.with_threads(threads_per_worker(workers))
    pool = _pool(ranged, workers)
    try:
        futures = [pool.submit(_detect_range, ranged, src, bounds[i], bounds[i + 1])
                   for i in range(workers)]
        found = [boxes for future in futures for boxes in future.result()]
    except (BlindspotError, BrokenProcessPool):
        # Fewer frames than the header said, a damaged file, a worker that died: one run
        # over the whole file does it right or says what is wrong.
        return run_one(task, src, out)
    finally:
        _stop(pool)
    return run_one(_Tracked(task, found), src, out)


def _detect_range(task: Task, src: Path, start: int, stop: int | None) -> list:
    from .pipeline import video_detectors
    from .video import detect_frames
    return detect_frames(src, task.options, *video_detectors(task.options), start, stop)


@dataclass(frozen=True)
class _Tracked:
    """`task` on one video whose detection pass has run already: track, then render."""

    task: Task
    found: list

    def run(self, src: Path, out: Path) -> FileResult:
        from ..media.video_reader import probe_video
        from .video import track_found
        options = self.task.options
        info = probe_video(src, options.max_pixels, options.max_duration)
        return anonymize_file(src, out, options, track_found(info, self.found, options))


def limit_threads(threads: int) -> None:
    """Keep OpenCV's own thread pool to `threads` (ONNX Runtime's is set per session)."""
    import cv2
    cv2.setNumThreads(threads)


def _pooled(task: Task, jobs: list[Job], workers: int) -> Iterator[Outcome]:
    """At most `workers` jobs in flight, so that when a worker dies the files it may have been
    working on are known: each of them is then run again alone, and fails only if it kills
    its worker again."""
    pending = deque(jobs)
    pool = _pool(task, workers)
    in_flight: dict[cf.Future[Outcome], Job] = {}
    fresh: set[Path] = set()  # outputs that did not exist when their job was handed out
    try:
        while pending or in_flight:
            while pending and len(in_flight) < workers:
                job = pending.popleft()
                if not job[1].exists():
                    fresh.add(job[1])
                in_flight[pool.submit(_run_in_worker, task, *job)] = job
            done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            suspects = []
            for future in done:
                job = in_flight.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    suspects.append(job)
            if suspects:
                suspects += in_flight.values()
                in_flight.clear()
                _stop(pool)
                for job in suspects:
                    if job[1] in fresh and job[1].exists():
                        # Its worker finished it while another died: the output is whole
                        # (written atomically), but its result was lost with the pool. It is
                        # this batch's own output: made again, alone.
                        job[1].unlink()
                    yield _alone(task, job)
                pool = _pool(task, workers)
    finally:
        _stop(pool)


def _alone(task: Task, job: Job) -> Outcome:
    pool = _pool(task, 1)
    try:
        return pool.submit(_run_in_worker, task, *job).result()
    except BrokenProcessPool:
        return Outcome(*job, error=f"{job[0]}: the worker process died while working on this "
                                   "file (out of memory?); no output was written")
    finally:
        _stop(pool)


def _pool(task: Task, workers: int) -> cf.ProcessPoolExecutor:
    # Fresh interpreters ("spawn"): a forked child would inherit this process's threads and
    # ONNX Runtime state halfway.
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_init_worker,
                                  initargs=(task.options.threads, os.getpid()))


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Stop `pool` now: its workers are asked to end (SIGTERM), which aborts their writes
    cleanly (`atomic_output` removes the temporary file), and are waited for."""
    # (`_processes`: ProcessPoolExecutor has no public way to end its workers before 3.14.)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(30)
    pool.shutdown(wait=True)


def _init_worker(threads: int, parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent alone handles it and stops us with
    # SIGTERM, which unwinds the work in progress (no temporary file left behind).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    _die_with(parent)
    if threads:
        limit_threads(threads)


_working = False  # in a worker: whether a file is in progress


def _run_in_worker(task: Task, src: Path, out: Path) -> Outcome:
    global _working
    _working = True
    try:
        return run_one(task, src, out)
    except SystemExit:  # stopped (SIGTERM): the write in progress has unwound, so leave now
        os._exit(143)
    finally:
        _working = False


def _exit_on_term(signum: int, frame: object) -> None:
    if _working:
        raise SystemExit(128 + signum)  # unwinds the write in progress (see _run_in_worker)
    os._exit(128 + signum)


def _die_with(parent: int) -> None:
    """Linux: get SIGTERM when the parent dies (killed, say), instead of working on alone."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


class Progress:
    """While a batch runs, on stderr when it is a terminal: files done, frames done and time
    left (from the frame counts in the files' headers); for a single video or sound file, its
    frames covered or seconds of sound written as the work tells them (`progress.advance`).
    Each finished file's line is printed above the bar. Quiet when stderr is not a terminal.
    Use as a context manager."""

    def __init__(self, jobs: list[Job]) -> None:
        self.files, self.done, self.bar = len(jobs), 0, None
        self.listening = contextlib.ExitStack()
        if not jobs or not sys.stderr.isatty():
            return
        from tqdm import tqdm
        if len(jobs) == 1:  # one file: told by the work itself, frame by frame
            src = jobs[0][0]
            shape = "{l_bar}{bar}| {n:.0f}/{total:.0f} %s [{elapsed}<{remaining}]"
            if is_video(src):
                total, unit = estimate(src)[0], "frames"
            elif is_sound(src):
                total, unit = probe_sound(src, float("inf")).duration, "s of sound"
            else:
                return
            self.bar = tqdm(total=total, file=sys.stderr, leave=False, dynamic_ncols=True,
                            bar_format=shape % unit)
            self.listening.enter_context(listening(self.bar.update))
            return
        self.frames = {src: estimate(src)[0] for src, _ in jobs}
        self.bar = tqdm(total=sum(self.frames.values()), unit="frame", file=sys.stderr,
                        leave=False, dynamic_ncols=True)
        self.bar.set_postfix_str(f"files 0/{self.files}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listening.close()
        if self.bar is not None:
            self.bar.close()

    def finished(self, outcome: Outcome) -> None:
        """Count one finished file (done or failed)."""
        self.done += 1
        if self.bar is None or self.files == 1:
            return
        guess = self.frames.get(outcome.source, 1)
        frames = outcome.result.frames if outcome.result is not None else guess
        self.bar.total += frames - guess
        self.bar.set_postfix_str(f"files {self.done}/{self.files}", refresh=False)
        self.bar.update(frames)

    def say(self, line: str) -> None:
        """Print `line` on stdout, above the bar."""
        if self.bar is None:
            print(line, flush=True)
        else:
            self.bar.write(line, file=sys.stdout)
