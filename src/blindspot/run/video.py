"""The video path: a detection pass that keeps only boxes, tracking, then a render pass.

Pass 1 decodes every frame (in a second thread, ahead of the detector) and detects on every
`detect_every`-th frame and on the last one, keeping boxes only (in a frame as it is displayed:
where the video's pixels are not square, the frame is resized to square pixels first and the
boxes mapped back to the stored pixels): every `full_every`-th frame with
the thorough detector (the photo detector's passes: small and large faces), the others with the
lighter video detector; text, when looked for, on the same frames. `track` links the boxes
into tracks, fills the gaps both ways, extends each track before and after it was seen and
grows it with the motion.
Pass 2 decodes the file again, covers each frame's boxes and encodes it, copying the sound.
Memory holds boxes and a few frames, however long the video. Any error in either pass aborts
the file: no output.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from .. import wording
from ..audio.voices import Voicing
from ..detect.detector import KindsDetector
from ..detect.tiles import resize
from ..detections import Detections
from ..errors import BlindspotError
from ..media.atomic import atomic_output
from ..media.video_frame import VideoFrame, square_stretch
from ..media.video_reader import VideoInfo, probe_video, read_frames
from ..media.video_writer import transcode
from ..options import Options
from ..progress import advance
from ..redact import redact
from ..track import Tracker, TrackSettings, track

T = TypeVar("T")
# Decoded frames waiting for the detector: enough to keep both busy, few enough for memory.
PREFETCH = 4
LIGHT = "light"  # a frame where the light detector runs
SETTLE_TRACKS = 64
CHANGED = "the video changed while it was read (more frames than in the detection pass)"


def detect_video(path: Path, options: Options, detector: KindsDetector,
                 thorough: KindsDetector | None = None) -> tuple[VideoInfo, list[Detections]]:
    """Pass 1 and tracking: the boxes found in every frame of the video at `path`."""
    info = probe_video(path, options.max_pixels, options.max_duration)
    return info, track_found(info, detect_frames(path, options, detector, thorough), options)


def detect_frames(path: Path, options: Options, detector: KindsDetector,
                  thorough: KindsDetector | None = None, start: int = 0,
                  stop: int | None = None) -> list[Detections | None]:
    """Pass 1 over frames `start`…`stop - 1` (`stop` None: to the end): the boxes of each frame
    the cadence picks, None for the others (`found_frames`, as a list)."""
    return list(found_frames(path, options, detector, thorough, start, stop))


def found_frames(path: Path, options: Options, detector: KindsDetector,
                 thorough: KindsDetector | None = None, start: int = 0,
                 stop: int | None = None) -> Iterator[Detections | None]:
    """Pass 1 over frames `start`…`stop - 1` (`stop` None: to the end), a frame at a time: the
    boxes of each frame the cadence picks, None for the others. The cadence counts from the
    first frame of the video, so ranges run apart (in several processes) and joined give what
    one run gives.

    With a thorough detector, each run of the light `detector` is given what the previous run
    found and its frame (it looks closely around those faces and where the picture changed,
    and leaves small faces that appear without moving to the next thorough run); the first run
    of a range has nothing before it and looks at its whole frame as is. A range that starts on
    a thorough frame finds what one run finds there. The thorough runs need nothing before
    them: each starts, in a second thread, as soon as its frame is decoded, up to `full_every`
    frames ahead of the light runs, which go on meanwhile (the two share the cores).

    Frames before `start` are decoded but never converted to RGB (cheap). Only a range that
    reaches the end of the video checks the file's integrity there and detects on the last
    frame (a track is then never cut short at the end), so each frame comes out once the next
    one is decoded."""
    every = max(1, options.detect_every)
    full_every = options.full_every
    full = thorough if full_every else None
    frames = prefetched(read_frames(path, options.threads), PREFETCH)
    # Frames read, not out yet: (index, the frame where a detector runs on it, the run: None,
    # LIGHT, or the thorough run under way). Frames without a run are not kept (memory).
    ahead: collections.deque[tuple[int, VideoFrame | None, Future[Detections] | str | None]] = \
        collections.deque()
    count = 0  # frames read
    newest: VideoFrame | None = None  # the last frame read
    ended = False

    def read_until(index: int, runs: ThreadPoolExecutor) -> None:
        """Read frames until frame `index` is read or the range ends."""
        nonlocal count, newest, ended
        while not ended and (not ahead or ahead[-1][0] < index):
            frame = next(frames, None)
            if frame is None or (stop is not None and frame.index >= stop):
                ended = True
                break
            if frame.index < start:
                continue
            if frame.index != start + count:
                raise BlindspotError(f"frame {frame.index} arrived out of order")
            count += 1
            newest = frame
            if full is not None and frame.index % full_every == 0:
                ahead.append((frame.index, frame, runs.submit(_detected, full, frame)))
            elif frame.index % every == 0:
                ahead.append((frame.index, frame, LIGHT))
            else:
                ahead.append((frame.index, None, None))

    last_run: np.ndarray | None = None  # the frame of the last detection run, as displayed
    last_found: Detections | None = None  # and what it found there
    with ThreadPoolExecutor(1, thread_name_prefix="blindspot-thorough") as runs:
        try:
            while True:
                # The next frame, and every frame up to the next thorough one, read.
                read_until((ahead[0][0] if ahead else start) + max(1, full_every), runs)
                if not ahead:
                    break
                _, frame, run = ahead.popleft()
                seen: tuple[np.ndarray, Detections] | None = None
                if isinstance(run, Future):
                    seen = run.result()
                elif run == LIGHT and frame is not None:
                    if full is not None and last_run is not None:
                        seen = _detected(detector, frame, near=last_found, before=last_run)
                    else:
                        seen = _detected(detector, frame)
                if seen is None and ended and not ahead and stop is None:
                    # The last frame of the video is always looked at.
                    frame = newest
                    assert frame is not None
                    seen = _detected(full if full is not None else detector, frame)
                if seen is None:
                    yield None
                    continue
                assert frame is not None
                last_run, last_found = seen
                yield _stored(last_found, frame)
        finally:
            for _, _, run in ahead:
                if isinstance(run, Future):
                    run.cancel()
            frames.close()
    if stop is not None and start + count < stop:
        raise BlindspotError(f"the video ended at frame {start + count}, before {stop}")
    if count == 0:
        raise BlindspotError("the video has no frames" if start == 0 else
                             f"the video has no frame {start}")


def _detected(detector: KindsDetector, frame: VideoFrame, near: Detections | None = None,
              before: np.ndarray | None = None) -> tuple[np.ndarray, Detections]:
    """`frame` as displayed (`displayed`) and what `detector` finds in it (`near` and `before`:
    the previous run's, as displayed too)."""
    shown = displayed(frame)
    if near is None or before is None:
        return shown, detector.detect(shown)
    return shown, detector.detect(shown, near=near, before=before)


def displayed(frame: VideoFrame) -> np.ndarray:
    """`frame`'s picture as it is displayed: with square pixels (the same array where its
    pixels are square)."""
    return resize(frame.rgb, *square_stretch(frame.aspect))


def _stored(found: Detections, frame: VideoFrame) -> Detections:
    """Boxes found in `frame` as displayed, in the frame's stored pixels."""
    fx, fy = square_stretch(frame.aspect)
    if fx == fy == 1:
        return found
    height, width = frame.shape[:2]
    return found.scaled(1 / fx, 1 / fy).clipped(width, height)


def track_found(info: VideoInfo, found: list[Detections | None], options: Options
                ) -> list[Detections]:
    """The boxes to cover in every frame, from the detection pass's boxes (`track`)."""
    return track(found, _track_settings(info, options))


def _track_settings(info: VideoInfo, options: Options) -> TrackSettings:
    return TrackSettings.for_fps(info.fps or 25.0, max(1, options.detect_every),
                                 options.full_every)


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """`items`, produced in a second thread up to `depth` ahead; its errors are raised here.

    Stopping early (an error downstream, or the generator closed) stops the producer too."""
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((False, None))
        except BaseException as e:  # handed to the consumer, raised there
            slots.put((False, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="blindspot-decode", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = slots.get()
            if not ok:
                if item is not None:
                    raise item  # type: ignore[misc]
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def render_video(path: Path, out: Path, options: Options, boxes: list[Detections],
                 modes: list[list[str]] | None = None,
                 speech: Voicing | None = None) -> None:
    """Pass 2: write `out`, the video at `path` with `boxes[i]` covered in frame i (every
    frame must have its entry, even an empty one: a frame count that differs is an error),
    each box in `options.mode` or, when given, in its mode of `modes[i]`; each span of
    `speech` (seconds of the sound) kept, muted, disguised or revoiced as it says."""

    def cover_of(index: int) -> tuple[Detections, list[str] | None]:
        if index >= len(boxes):
            raise BlindspotError(CHANGED)
        return boxes[index], None if modes is None else modes[index]

    _render(path, out, options, cover_of, lambda: len(boxes), speech)


def anonymize_video(path: Path, out: Path, options: Options, info: VideoInfo,
                    detector: KindsDetector, thorough: KindsDetector | None,
                    cover: Callable[[Detections], tuple[Detections, list[str]]],
                    speech: Callable[[], Voicing | None]) -> list[Detections]:
    """Pass 1, tracking and pass 2 at once: write `out`, the video at `path` (`info`, its
    `probe_video`) with each frame's tracked boxes covered as `cover` says (the boxes to cover
    and their modes), the sound as `speech()` says (see `render_video`; called while detection
    starts). Returns every frame's tracked boxes (what `detect_video` gives).

    Detection runs in a second thread; the render follows it, each frame as soon as tracking
    has settled its boxes (`Tracker`), so the two passes share the cores instead of taking
    turns, and memory holds boxes, not frames. An error in either pass stops both: no output.
    """
    settings = _track_settings(info, options)
    settled = _Settled()

    def detect() -> None:
        try:
            tracker = Tracker(settings)
            waited = 0  # frames pushed since tracking was last asked what is settled
            with contextlib.closing(found_frames(path, options, detector, thorough)) as found:
                for dets in found:
                    if settled.stopped.is_set():
                        return
                    tracker.push(dets)
                    waited += 1
                    # Asked after each detection run; in a crowd (asking costs a step per
                    # live track) after a frame per SETTLE_TRACKS live tracks.
                    if dets is not None and waited * SETTLE_TRACKS >= len(tracker.live):
                        settled.add(tracker.ready())
                        waited = 0
            settled.add(tracker.finish())
            settled.end()
        except BaseException as e:  # handed to the render, raised there
            settled.end(e)

    worker = threading.Thread(target=detect, name="blindspot-detect", daemon=True)
    worker.start()
    try:
        _render(path, out, options, lambda index: cover(settled.get(index)), settled.count,
                speech())
    finally:
        settled.stopped.set()
        worker.join()
    return settled.boxes


class _Settled:
    """The tracked boxes of the frames settled so far, handed from the detection thread to
    the render, which waits for each frame's."""

    def __init__(self) -> None:
        self.boxes: list[Detections] = []
        self.done = False
        self.error: BaseException | None = None
        self.changed = threading.Condition()
        self.stopped = threading.Event()  # the render gave up: detection stops too

    def add(self, boxes: list[Detections]) -> None:
        with self.changed:
            self.boxes += boxes
            self.changed.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        with self.changed:
            self.done, self.error = True, error
            self.changed.notify_all()

    def get(self, index: int) -> Detections:
        """Frame `index`'s boxes, once settled; detection's error if it failed first."""
        with self.changed:
            self.changed.wait_for(lambda: index < len(self.boxes) or self.done)
            if index < len(self.boxes):
                return self.boxes[index]
            if self.error is not None:
                raise self.error
            raise BlindspotError(CHANGED)

    def count(self) -> int:
        """The frames detection saw, once it ended."""
        with self.changed:
            self.changed.wait_for(lambda: self.done)
            if self.error is not None:
                raise self.error
            return len(self.boxes)


def _render(path: Path, out: Path, options: Options,
            cover_of: Callable[[int], tuple[Detections, list[str] | None]],
            count: Callable[[], int], speech: Voicing | None) -> None:
    """Pass 2 (see `render_video`): frame i covered as `cover_of(i)` says (boxes and their
    modes, None: `options.mode`); `count()`, the frames pass 1 saw, once the last is written."""

    def cover(frame: VideoFrame) -> np.ndarray:
        dets, modes = cover_of(frame.index)
        advance()
        return redact(frame.rgb, dets, options.mode, options.mask_scale, seed=frame.index,
                      modes=modes)

    with atomic_output(out, options.overwrite) as f:
        edit = None
        if speech is not None and any(voice != "keep" for _, voice in speech.edits):
            edit = speech.editor
        written = transcode(path, f, out.suffix, cover, crf=options.crf, threads=options.threads,
                            keep_audio=options.keep_audio, edit_audio=edit)
        if written != count():
            raise BlindspotError(f"the render pass saw {wording.count(written, 'frame')}, the "
                                 "detection pass "
                                 f"{count()}: the video changed while it was read")
