"""The video path: a detection pass that keeps only boxes, tracking, then a render pass.

Pass 1 decodes every frame and detects faces on every `detect_every`-th frame and on the last
one, keeping boxes only. `track` links the boxes into tracks, fills the gaps both ways, extends
each track before and after it was seen and grows it with the face's motion. Pass 2 decodes the
file again, covers each frame's boxes and encodes it, copying the sound. Memory holds boxes and
a few frames, however long the video. Any error in either pass aborts the file: no output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .detect import FaceDetector
from .detections import Detections
from .errors import BlindspotError
from .options import Options
from .redact import redact
from .track import TrackSettings, track
from .video_io import VideoFrame, VideoInfo, probe_video, read_frames, transcode


def detect_video(path: Path, options: Options, detector: FaceDetector
                 ) -> tuple[VideoInfo, list[Detections]]:
    """Pass 1 and tracking: the boxes to cover in every frame of the video at `path`."""
    info = probe_video(path, options.max_pixels, options.max_duration)
    every = max(1, options.detect_every)
    found: list[Detections | None] = []
    last: VideoFrame | None = None
    for frame in read_frames(path):
        if frame.index != len(found):
            raise BlindspotError(f"frame {frame.index} arrived out of order")
        found.append(detector.detect(frame.rgb) if frame.index % every == 0 else None)
        last = frame
    if last is None:
        raise BlindspotError("the video has no frames")
    if found[-1] is None:
        found[-1] = detector.detect(last.rgb)
    settings = TrackSettings.for_fps(info.fps or 25.0, every)
    return info, track(found, settings)


def anonymize_video(path: Path, out: Path, options: Options, detector: FaceDetector
                    ) -> tuple[VideoInfo, list[Detections]]:
    """Write `out`: the video at `path` with every tracked face covered in every frame."""
    info, boxes = detect_video(path, options, detector)

    def cover(frame: VideoFrame) -> np.ndarray:
        if frame.index >= len(boxes):
            raise BlindspotError("the video changed while it was read (more frames than "
                                 "in the detection pass)")
        rgb = np.array(frame.rgb, copy=True)
        return redact(rgb, boxes[frame.index], options.mode, options.mask_scale,
                      seed=frame.index)

    with atomic_output(out, options.overwrite) as f:
        written = transcode(path, f, out.suffix, cover, crf=options.crf,
                            keep_audio=options.keep_audio)
        if written != len(boxes):
            raise BlindspotError(f"the render pass saw {written} frames, the detection pass "
                                 f"{len(boxes)}: the video changed while it was read")
    return info, boxes


def frame_boxes(boxes: list[Detections]) -> Iterator[list[list[float]]]:
    """Each frame's boxes as `[[x, y, w, h, score], …]`, for reports."""
    for dets in boxes:
        yield dets.to_xywh()
