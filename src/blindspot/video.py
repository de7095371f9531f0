"""The video path: a detection pass that keeps only boxes, tracking, then a render pass.

Pass 1 decodes every frame (in a second thread, ahead of the detector) and detects on every
`detect_every`-th frame and on the last one, keeping boxes only: every `full_every`-th frame with
the thorough detector (the photo detector's passes: small and large faces), the others with the
lighter video detector; text, when looked for, on the same frames. `track` links the boxes
into tracks, fills the gaps both ways, extends each track before and after it was seen and
grows it with the motion.
Pass 2 decodes the file again, covers each frame's boxes and encodes it, copying the sound.
Memory holds boxes and a few frames, however long the video. Any error in either pass aborts
the file: no output.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from .atomic import atomic_output
from .audio.edit import SpanEditor
from .audio.speech import Span
from .audio.voices import editor
from .detect.detector import KindsDetector
from .detections import Detections
from .errors import BlindspotError
from .options import Options
from .redact import redact
from .track import TrackSettings, track
from .video_io import VideoFrame, VideoInfo, probe_video, read_frames, transcode

T = TypeVar("T")
# Decoded frames waiting for the detector: enough to keep both busy, few enough for memory.
PREFETCH = 4


def detect_video(path: Path, options: Options, detector: KindsDetector,
                 thorough: KindsDetector | None = None) -> tuple[VideoInfo, list[Detections]]:
    """Pass 1 and tracking: the boxes found in every frame of the video at `path`."""
    info = probe_video(path, options.max_pixels, options.max_duration)
    return info, track_found(info, detect_frames(path, options, detector, thorough), options)


def detect_frames(path: Path, options: Options, detector: KindsDetector,
                  thorough: KindsDetector | None = None, start: int = 0,
                  stop: int | None = None) -> list[Detections | None]:
    """Pass 1 over frames `start`…`stop - 1` (`stop` None: to the end): the boxes of each frame
    the cadence picks, None for the others. The cadence counts from the first frame of the
    video, so ranges run apart (in several processes) and joined give what one run gives.

    With a thorough detector, each run of the light `detector` is given what the previous run
    found and its frame (it looks closely around those faces and where the picture changed,
    and leaves small faces that appear without moving to the next thorough run); the first run
    of a range has nothing before it and looks at its whole frame as is. A range that starts on
    a thorough frame finds what one run finds there.

    Frames before `start` are decoded but never converted to RGB (cheap). Only a range that
    reaches the end of the video checks the file's integrity there and detects on the last
    frame (a track is then never cut short at the end)."""
    every = max(1, options.detect_every)
    full_every = options.full_every
    full = thorough if full_every else None
    found: list[Detections | None] = []
    last_run: VideoFrame | None = None  # the frame of the last detection run
    last: VideoFrame | None = None
    frames = prefetched(read_frames(path, options.threads), PREFETCH)
    try:
        for frame in frames:
            if stop is not None and frame.index >= stop:
                break
            if frame.index < start:
                continue
            if frame.index != start + len(found):
                raise BlindspotError(f"frame {frame.index} arrived out of order")
            if full is not None and frame.index % full_every == 0:
                found.append(full.detect(frame.rgb))
            elif frame.index % every == 0:
                follows = full is not None and last_run is not None
                found.append(detector.detect(
                    frame.rgb, near=found[last_run.index - start] if follows else None,
                    before=last_run.rgb if follows else None))
            else:
                found.append(None)
            if found[-1] is not None:
                last_run = frame
            last = frame
    finally:
        frames.close()
    if stop is not None and start + len(found) < stop:
        raise BlindspotError(f"the video ended at frame {start + len(found)}, before {stop}")
    if last is None:
        raise BlindspotError("the video has no frames" if start == 0 else
                             f"the video has no frame {start}")
    if stop is None and found[-1] is None:
        found[-1] = full.detect(last.rgb) if full is not None else detector.detect(last.rgb)
    return found


def track_found(info: VideoInfo, found: list[Detections | None], options: Options
                ) -> list[Detections]:
    """The boxes to cover in every frame, from the detection pass's boxes (`track`)."""
    settings = TrackSettings.for_fps(info.fps or 25.0, max(1, options.detect_every),
                                     options.full_every)
    return track(found, settings)


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
                 speech: list[tuple[Span, str]] | None = None) -> None:
    """Pass 2: write `out`, the video at `path` with `boxes[i]` covered in frame i (every
    frame must have its entry, even an empty one: a frame count that differs is an error),
    each box in `options.mode` or, when given, in its mode of `modes[i]`; each span of `speech`
    (seconds of the sound) kept, muted or disguised as it says."""

    def cover(frame: VideoFrame) -> np.ndarray:
        if frame.index >= len(boxes):
            raise BlindspotError("the video changed while it was read (more frames than "
                                 "in the detection pass)")
        return redact(frame.rgb, boxes[frame.index], options.mode, options.mask_scale,
                      seed=frame.index, modes=None if modes is None else modes[frame.index])

    with atomic_output(out, options.overwrite) as f:
        edit = None
        if any(voice != "keep" for _, voice in speech or []):
            def edit(rate: int) -> SpanEditor | None:
                return editor(speech or [], rate)
        written = transcode(path, f, out.suffix, cover, crf=options.crf, threads=options.threads,
                            keep_audio=options.keep_audio, edit_audio=edit)
        if written != len(boxes):
            raise BlindspotError(f"the render pass saw {written} frames, the detection pass "
                                 f"{len(boxes)}: the video changed while it was read")
