"""Anamorphic video: pixels that are not square are detected on as displayed, and stay so.

The same 16:9 scene (a real photo's face, large and small) is written once with square pixels
(1024×576) and once squeezed into 720×576 with a sample aspect ratio of 64:45 (how PAL
widescreen is stored: it displays as 1024×576). Both must come out with the same faces covered,
where they are displayed, and the anamorphic one with its 64:45 kept.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT_FACE

import blindspot
from blindspot.detections import iou_matrix
from blindspot.media.video_reader import probe_video, read_frames
from blindspot.options import Options
from blindspot.run.pipeline import video_detectors
from blindspot.run.video import detect_frames

SHOWN = (1024, 576)  # width, height as displayed
STORED = (720, 576)
SAR = Fraction(64, 45)
FRAMES = 6
# The faces as displayed: x1, y1, x2, y2 of the astronaut's face pasted at two sizes.
FACES = [(600, 120, 784, 370), (180, 300, 226, 362)]


def _scene(astronaut: np.ndarray) -> np.ndarray:
    """The 1024×576 picture as displayed: a grey wall and the astronaut's face twice (face box
    `FACES`, the head around it)."""
    scene = np.full((SHOWN[1], SHOWN[0], 3), 110, np.uint8)
    fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
    for x1, y1, x2, _y2 in FACES:
        k = (x2 - x1) / (fx2 - fx1)
        # The head: the face box grown by half its size on every side.
        sx1, sy1 = int(fx1 - 0.5 * (fx2 - fx1)), int(fy1 - 0.5 * (fy2 - fy1))
        sx2, sy2 = int(fx2 + 0.5 * (fx2 - fx1)), int(fy2 + 0.3 * (fy2 - fy1))
        head = astronaut[max(0, sy1):sy2, max(0, sx1):sx2]
        w, h = round(head.shape[1] * k), round(head.shape[0] * k)
        tx, ty = round(x1 - (fx1 - max(0, sx1)) * k), round(y1 - (fy1 - max(0, sy1)) * k)
        scene[ty:ty + h, tx:tx + w] = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
    return scene


def _write(path: Path, picture: np.ndarray, sar: Fraction | None,
           rotation: int | None = None) -> Path:
    height, width = picture.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if sar is not None:
            stream.codec_context.sample_aspect_ratio = sar
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("anamorphic")
    scene = _scene(astronaut)
    squeezed = cv2.resize(scene, STORED, interpolation=cv2.INTER_AREA)
    return {f"{name}{suffix}": _write(folder / f"{name}{suffix}", picture, sar)
            for suffix in (".mp4", ".mkv")
            for name, picture, sar in (("square", scene, None), ("pal", squeezed, SAR))}


def _displayed(path: Path, shown: tuple[int, int] = SHOWN
               ) -> tuple[list[np.ndarray], Fraction]:
    """The frames of `path` resized to how they are displayed (`shown`), and the stream's SAR."""
    with av.open(str(path)) as container:
        sar = container.streams.video[0].sample_aspect_ratio or Fraction(1)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [cv2.resize(f, shown, interpolation=cv2.INTER_AREA) for f in frames], Fraction(sar)


def _covered(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The share of the face's inner part (a fifth in from each side) that is blacked out."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) // 5, (y2 - y1) // 5
    return float((frame[y1 + dy:y2 - dy, x1 + dx:x2 - dx].max(axis=2) < 40).mean())


def test_the_stream_says_how_its_pixels_are_displayed(clips):
    info = probe_video(clips["pal.mp4"], 10**8, 3600)
    assert (info.width, info.height, info.aspect) == (*STORED, SAR)
    frame = next(iter(read_frames(clips["pal.mp4"])))
    assert frame.aspect == SAR and frame.shape == (STORED[1], STORED[0], 3)
    assert probe_video(clips["square.mp4"], 10**8, 3600).aspect == 1


def test_boxes_are_found_as_in_the_clip_with_square_pixels(clips):
    """Detection sees the squeezed frames as displayed: the boxes, displayed, are the square
    clip's (seen squeezed, the detector finds them 0.77-0.85 IoU apart and adds a phantom)."""
    options = Options()
    detectors = video_detectors(options)
    square, pal = ([d for d in detect_frames(clips[f"{name}.mp4"], options, *detectors)
                    if d is not None] for name in ("square", "pal"))
    assert len(square) == len(pal) > 0
    for a, b in zip(square, pal, strict=True):
        assert len(a) == len(b) == len(FACES)
        overlap = iou_matrix(a.boxes, b.scaled(float(SAR), 1).boxes)
        assert (overlap.max(axis=0) > 0.9).all() and (overlap.max(axis=1) > 0.9).all()


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_anamorphic_faces_are_covered_as_with_square_pixels(tmp_path, clips, suffix):
    results = {}
    for name in ("square", "pal"):
        src = clips[f"{name}{suffix}"]
        out = tmp_path / f"{name}.anon{suffix}"
        blindspot.anonymize_file(src, out)
        frames, sar = _displayed(out)
        results[name] = frames, sar
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (STORED if name == "pal" else SHOWN)
    assert results["square"][1] == 1
    assert results["pal"][1] == SAR, "the output lost its sample aspect ratio"
    for name, (frames, _) in results.items():
        assert len(frames) == FRAMES
        for index, frame in enumerate(frames):
            for box in FACES:
                assert _covered(frame, box) > 0.9, f"{name}: face {box} frame {index}"
            wall = frame[20:100, 20:160].astype(int)
            assert abs(wall.mean() - 110) < 8, f"{name}: the wall is covered"


def test_webm_output_is_widened_to_square_pixels(tmp_path, clips):
    """WebM cannot say its aspect ratio through PyAV: the pictures are widened instead, so the
    output is displayed as the input is, faces covered."""
    out = tmp_path / "pal.anon.webm"
    blindspot.anonymize_file(clips["pal.mkv"], out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == SHOWN
        assert (stream.sample_aspect_ratio or 1) == 1
    frames, _ = _displayed(out)
    assert len(frames) == FRAMES
    for box in FACES:
        assert _covered(frames[0], box) > 0.9


def test_a_turned_anamorphic_clip_is_seen_upright_and_unsqueezed(tmp_path, astronaut):
    """A phone-style display rotation on top of 64:45 pixels: the stored width is the upright
    height, so the ratio turns with the picture (45:64 upright), faces covered as displayed."""
    upright = np.ascontiguousarray(np.rot90(_scene(astronaut)))  # 576×1024 as displayed
    squeezed = cv2.resize(upright, (SHOWN[1], STORED[0]), interpolation=cv2.INTER_AREA)
    src = _write(tmp_path / "turned.mp4", np.ascontiguousarray(np.rot90(squeezed, -1)), SAR,
                 rotation=90)
    assert probe_video(src, 10**8, 3600).aspect == 1 / SAR
    out = tmp_path / "turned.anon.mp4"
    blindspot.anonymize_file(src, out)
    frames, sar = _displayed(out, (SHOWN[1], SHOWN[0]))
    assert sar == 1 / SAR
    width = SHOWN[0]
    for x1, y1, x2, y2 in FACES:  # np.rot90: (x, y) -> (y, width - x)
        assert _covered(frames[0], (y1, width - x2, y2, width - x1)) > 0.9


def test_the_audit_attacks_an_anamorphic_video_as_displayed(clips):
    """The audit's attackers look at the frames as a viewer sees them (widened to 1024×576),
    so the faces they find in the unprotected clip are where they are displayed; on the stored
    720×576 pixels the large face would lie at x 422–551, squeezed."""
    result = blindspot.audit_file(clips["pal.mp4"])
    assert not result.passed
    x1, y1, x2, y2 = FACES[0]
    found = [leak.box for leak in result.leaks]
    assert any(x1 <= x + w / 2 <= x2 and y1 <= y + h / 2 <= y2 for x, y, w, h in found), found
