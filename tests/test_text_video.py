"""Text in video: a name tag moving through a clip is covered in every frame, also between the
frames text is looked for (its track carries the box, as a face's does)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import write_clip_with_sound

import blindspot

FRAMES = 30
STEP = 7  # px the tag moves per frame
TAG = (150, 44)  # w, h of the tag


def _tag_box(index: int) -> tuple[int, int, int, int]:
    x, y = 40 + STEP * index, 150
    return x, y, x + TAG[0], y + TAG[1]


def _scene(index: int) -> np.ndarray:
    """A 640×360 frame: a textured wall and a white name tag with a name moving right."""
    rng = np.random.default_rng(7)
    frame = rng.normal(100, 10, (360, 640, 3)).clip(0, 255).astype(np.uint8)
    x1, y1, x2, y2 = _tag_box(index)
    cv2.rectangle(frame, (x1, y1), (x2, y2), (240, 240, 235), -1)
    cv2.putText(frame, "M. KOWALSKA", (x1 + 8, y1 + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (20, 20, 60), 2)
    return frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-video")
    return write_clip_with_sound(folder / "tag.mp4", [_scene(i) for i in range(FRAMES)], 10,
                                 rate=10)


def test_a_moving_name_tag_is_covered_in_every_frame(tmp_path, clip):
    out = tmp_path / "tag.anon.mp4"
    result = blindspot.anonymize_file(clip, out, blindspot.Options(cover=("faces", "text")))
    assert result.frames == FRAMES
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == FRAMES
    for index, frame in enumerate(frames):
        x1, y1, x2, y2 = _tag_box(index)
        letters = (slice(y1 + 12, y1 + 34), slice(x1 + 8, x2 - 8))
        source = _scene(index)[letters].astype(int)
        hidden = np.abs(frame[letters].astype(int) - source).max(axis=2) > 40
        assert hidden.mean() > 0.9, f"the name shows in frame {index}"
