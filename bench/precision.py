"""The face model in float32 against the default precision (bfloat16 where the CPU computes it).

Two tables, both precisions in the same run:

1. The model alone: milliseconds per call (one thread, mean of `--runs` after one warm-up call)
   at the input sizes the detector uses, in float32 (ONNX Runtime) and in the default precision
   (OpenVINO in bfloat16 where the CPU computes it), and the largest difference of the face
   heatmap (scores 0–1) between the two.
2. Video, per detection pass: on every `--every`-th frame of each clip in FOLDER (default: the
   dev clips), the light pass alone (the whole frame as is, the default threshold) and, on
   thorough frames, the photo detector, in both precisions; a face of `bench/video.py`'s
   float32 reference (cached there) counts as found when a box overlaps it with IoU ≥ 0.3.
   Found / all by size band.

    python bench/precision.py [FOLDER] [--every N] [--runs N]

For the recall bands on photos: `python bench/detection.py` and `--precision f32`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import video as video_bench  # noqa: E402  (bench/video.py: the reference pass and its cache)

from blindspot.detect.faces import CenterFace, DetectorSettings, FaceDetector  # noqa: E402
from blindspot.detections import iou_matrix  # noqa: E402
from blindspot.media.video_reader import read_frames  # noqa: E402
from blindspot.options import Options  # noqa: E402

SIZES = [(384, 640), (736, 1280), (1024, 1024), (1088, 1920)]  # height, width
BANDS = [("<20 px", 0, 20), ("20–40 px", 20, 40), ("≥40 px", 40, float("inf"))]
PRECISIONS = ("f32", "auto")


def model_table(runs: int) -> str:
    rng = np.random.default_rng(0)
    models = {p: CenterFace(1, precision=p) for p in PRECISIONS}
    auto = models["auto"].precision
    lines = [f"| input (w×h) | f32 (ONNX Runtime) ms | {auto} ms | speed-up | "
             "largest heatmap difference |", "|---|---:|---:|---:|---:|"]
    for h, w in SIZES:
        # A smooth random picture (noise upscaled), in the model's input range.
        small = rng.uniform(0, 255, (3, h // 16, w // 16)).astype(np.float32)
        blob = np.ascontiguousarray(small.repeat(16, 1).repeat(16, 2)[None])
        outputs = {p: m._infer(blob) for p, m in models.items()}  # warm-up, and compared
        ms = {}
        for p, m in models.items():
            start = time.perf_counter()
            for _ in range(runs):
                m._infer(blob)
            ms[p] = (time.perf_counter() - start) / runs * 1000
        diff = float(np.abs(outputs["auto"][0] - outputs["f32"][0]).max())
        lines.append(f"| {w}×{h} | {ms['f32']:.0f} | {ms['auto']:.0f} | "
                     f"{ms['f32'] / ms['auto']:.2f}× | {diff:.3f} |")
    return "\n".join(lines)


def video_table(folder: Path, every: int) -> str:
    options = Options()
    models = {p: CenterFace(precision=p) for p in PRECISIONS}
    passes = {"light": DetectorSettings(threshold=options.threshold, coarse_scale=0.0,
                                        tile_scale=0.0),
              "thorough": options.detector_settings()}
    detectors = {(name, p): FaceDetector(settings, model=model)
                 for name, settings in passes.items() for p, model in models.items()}
    counts: dict[tuple[str, str, str], list[int]] = {}
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov"))
    for clip in clips:
        reference, _, _ = video_bench.reference_boxes(clip, verbose=True)
        for frame in read_frames(clip):
            ref = reference[frame.index]
            if frame.index % every or not len(ref):
                continue
            side = np.max(ref[:, 2:] - ref[:, :2], axis=1)
            for (name, p), detector in detectors.items():
                if name == "thorough" and frame.index % options.full_every:
                    continue
                dets = detector.detect(frame.rgb)
                hit = (iou_matrix(ref, dets.boxes).max(axis=1) >= 0.3 if len(dets)
                       else np.zeros(len(ref), bool))
                for band, lo, hi in BANDS:
                    chosen = (side >= lo) & (side < hi)
                    c = counts.setdefault((name, band, p), [0, 0])
                    c[0] += int(hit[chosen].sum())
                    c[1] += int(chosen.sum())
    auto = models["auto"].precision
    lines = [f"| pass | faces | found, f32 | found, {auto} |", "|---|---|---:|---:|"]
    for name in passes:
        for band, _, _ in BANDS:
            f32, other = counts.get((name, band, "f32"), [0, 0]), counts.get((name, band, "auto"),
                                                                             [0, 0])
            lines.append(f"| {name} | {band}: {f32[1]} | {f32[0]} | {other[0]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=video_bench.DEFAULT_FOLDER)
    parser.add_argument("--every", type=int, default=4, help="every N-th frame (default 4)")
    parser.add_argument("--runs", type=int, default=5, help="model calls timed per size")
    args = parser.parse_args(argv)
    print(model_table(args.runs))
    print()
    print(video_table(args.folder.resolve(), args.every))


if __name__ == "__main__":
    main()
