"""Held-out video for the video benchmark: camera pans over held-out crowd photos.

`../shared/data` has seven real clips and no held-out video, so every video setting chosen on
them would be scored on them. This makes clips nobody tuned on: each picks one WIDER FACE photo
of the held-out part of `bench/detection.py` (the same SHA-256 split; never used to choose a
detection setting), undoes the 416×416 stretch of its source (back to the photo's own aspect
ratio), and moves a 16:9 window over it: a pan across the photo with a slow zoom, 3 s at 25 fps,
640×360, x264 CRF 18. Faces enter and leave at the edges and move across the frame, as in a
handheld crowd shot; the faces are real, the motion is not (no blur, no parallax).

The photos taken are the held-out ones with the most labelled faces of 10–40 px (the sizes the
video detector's light pass must keep up with), at most `--count` of them. Writes the clips and
a `videos.tsv` (the format `bench/video.py` reads) into FOLDER:

    python bench/pan_clips.py FOLDER [--count 8]
    python bench/video.py FOLDER --no-deface --flat-clip ''
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.detection import part, read_rgb  # noqa: E402

SOURCE = Path(__file__).resolve().parent.parent.parent / "shared/data/detection/wider_val_subset"
SIZE = (640, 360)
FPS = 25
FRAMES = 75


def photos(folder: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """(name, RGB at its own aspect ratio) of the held-out photos with the most faces 10–40 px."""
    entries = [e for e in json.loads((folder / "annotations.json").read_text())
               if part(e["file"]) == "held-out"]

    def mid_faces(entry: dict) -> int:
        sides = [max(f["box_xywh_original"][2:]) for f in entry["faces"] if not f["invalid"]]
        return sum(10 <= s < 40 for s in sides)

    entries.sort(key=lambda e: (-mid_faces(e), e["file"]))
    out = []
    for entry in entries[:count]:
        rgb = read_rgb(folder / entry["file"])
        width = max(entry["original_width"], SIZE[0])
        height = round(width * entry["original_height"] / entry["original_width"])
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
        out.append((Path(entry["file"]).stem, rgb))
    return out


def pan_frames(rgb: np.ndarray) -> list[np.ndarray]:
    """The window's frames: from the top-left to the bottom-right, 0.7 → 0.55 of the width."""
    h, w = rgb.shape[:2]
    frames = []
    for i in range(FRAMES):
        t = i / (FRAMES - 1)
        win_w = w * (0.7 - 0.15 * t)
        win_h = min(h, win_w * SIZE[1] / SIZE[0])
        win_w = win_h * SIZE[0] / SIZE[1]
        x = (w - win_w) * t
        y = (h - win_h) * t
        # The affine map from the window to the output frame (subpixel, no jitter).
        k = SIZE[0] / win_w
        m = np.array([[k, 0, -x * k], [0, k, -y * k]], np.float32)
        frames.append(cv2.warpAffine(rgb, m, SIZE, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
    return frames


def write_clip(frames: list[np.ndarray], path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "medium"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, rgb in photos(args.source, args.count):
        path = args.folder / f"pan_{name}.mp4"
        write_clip(pan_frames(rgb), path)
        rows.append({"file": path.name, "width": SIZE[0], "height": SIZE[1], "frames": FRAMES,
                     "fps": FPS, "content": f"pan over held-out WIDER photo {name}"})
        print(path)
    with open(args.folder / "videos.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
