"""Shared fixtures: real photos that installed packages ship, and known face positions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from skimage import data

# Before any test module imports ONNX Runtime: its telemetry off in the test process too.
import blindspot.detect  # noqa: F401

# The astronaut's face (brows to chin) in skimage.data.astronaut() (512×512): x1, y1, x2, y2.
ASTRONAUT_FACE = (180, 55, 272, 180)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="session")
def no_face() -> np.ndarray:
    """A photo without people (a cup of coffee)."""
    return data.coffee()


def face_region(image: np.ndarray, box: tuple[int, int, int, int] = ASTRONAUT_FACE,
                inset: int = 20) -> np.ndarray:
    x1, y1, x2, y2 = box
    return image[y1 + inset:y2 - inset, x1 + inset:x2 - inset]


def far_region(image: np.ndarray) -> np.ndarray:
    """A patch of the astronaut picture far from the face (the suit, bottom left)."""
    return image[400:500, 20:120]


def write_clip_with_sound(path: Path, pictures: Sequence[np.ndarray], audio_frames: int,
                          rate: int = 10) -> Path:
    """An MP4: `pictures` (H×W×3 uint8, one size) as H.264 at `rate` frames per second, and
    `audio_frames` frames (1,024 samples each) of silent mono AAC at 48 kHz."""
    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for index in range(audio_frames):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32),
                                                 format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 48000, index * 1024
            out.mux(sound.encode(samples))
        out.mux(sound.encode(None))
    return path
