"""Phantom faces against recall: what the weak-box filter (`blindspot.detect.support`) drops.

Two tables, each filter variant on the same detections (the default `FaceDetector` run once
per picture, the people detector once):

1. Street photos (`shared/data/people`, COCO with person annotations): face boxes per photo,
   and **phantom** boxes per photo: a box whose centre lies outside every annotated person, or
   below the top 30 % of each person box it lies in. A COCO `iscrowd` region (a stadium's
   stands: a crowd annotated as one region) holds heads at every height: a box in one is not a
   phantom. "issue's rule" counts as issue #28 did: a crowd region as one person box (the top
   30 % of the stands only), so the real faces of a crowd count as phantoms there.
2. Face sets: recall by size band (found = IoU >= 0.3 with a kept box, as bench/detection.py)
   and the area the kept boxes cover, on the real-aspect sets (`detection/wider_unsqueezed`,
   `detection/faces_real`) and the squeezed one (`detection/wider_val_subset`).

Every figure per part (`part` of bench/detection.py, by the file name's SHA-256): the filter's
settings were chosen on "tune" only; "held-out" is what to trust. Seconds: the face detector
per picture, the filter per picture (second looks included) and the people detector per
picture (the filter runs it where people are not covered anyway, and only when a weak box is
left to judge).

Last, the cost: the product's photo detector on a 12 MP photo and the video's light and
thorough detectors on a 1280×720 frame, with the filter and without (best of 3); with
`--video`, the detection pass of each dev clip with the filter and without.

    python bench/phantoms.py [--limit N] [--sets people,wider_unsqueezed,...] [--part tune]
                             [--no-speed] [--video [FOLDER]]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import video as video_bench  # noqa: E402  (bench/video.py: the reference faces and leaks)
from detection import (  # noqa: E402  (bench/detection.py: the face sets' reader and rules)
    BANDS,
    MATCH_IOU,
    PARTS,
    band_index,
    covered_share,
    load_samples,
    part,
    read_rgb,
)

from blindspot.detect.detector import KindsDetector  # noqa: E402
from blindspot.detect.faces import FaceDetector  # noqa: E402
from blindspot.detect.people import PeopleDetector, PeopleSettings, YoloxModel  # noqa: E402
from blindspot.detect.support import SUPPORT_PEOPLE, FaceSupport, SupportSettings  # noqa: E402
from blindspot.detections import Detections, iou_matrix  # noqa: E402
from blindspot.options import Options  # noqa: E402
from blindspot.run.pipeline import photo_detector, video_detectors  # noqa: E402
from blindspot.run.video import detect_video  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "../shared/data"
STREET = "people"
REAL = ("wider_unsqueezed", "faces_real")
SQUEEZED = ("wider_val_subset",)
HEAD_SHARE = 0.3  # a face's centre lies in the top 30 % of its person's box

DEFAULT = SupportSettings()
# The people detectors the filter may take its persons from: the photo's (`--cover people`),
# the video's light pass, and the whole picture only (one pass: what the filter runs).
PEOPLE = {"photo": PeopleSettings(), "light": PeopleSettings.video(),
          "whole": SUPPORT_PEOPLE}
# label, settings, the people detector (a key of PEOPLE, or None: none)
VARIANTS: list[tuple[str, SupportSettings, str | None]] = [
    ("no filter", SupportSettings.off(), None),
    (f"score >= {DEFAULT.sure} only", replace(DEFAULT, crowd_faces=0, recheck_side=0), None),
    ("+ person's head", replace(DEFAULT, crowd_faces=0, recheck_side=0), "photo"),
    ("+ crowd", replace(DEFAULT, recheck_side=0), "photo"),
    ("+ second look", DEFAULT, "photo"),
    ("crowd + second look, no people", DEFAULT, None),
    ("the same, people's light pass", DEFAULT, "light"),
    ("the same, people on the whole picture (default)", DEFAULT, "whole"),
]


@dataclass
class Picture:
    name: str
    rgb: np.ndarray
    faces: Detections  # what the face detector found
    people: dict[str, Detections]  # what each of PEOPLE found
    truth: np.ndarray  # face sets: N×4 labelled faces; street: N×5 persons (…, iscrowd)


@dataclass
class Tally:
    pictures: int = 0
    boxes: int = 0
    phantoms: int = 0
    literal: int = 0  # phantoms by the rule
    found: np.ndarray = field(default_factory=lambda: np.zeros(len(BANDS), int))
    total: np.ndarray = field(default_factory=lambda: np.zeros(len(BANDS), int))
    area: float = 0.0
    seconds: float = 0.0


def phantoms(boxes: np.ndarray, persons: np.ndarray, crowd_free: bool = True) -> np.ndarray:
    """Which boxes are phantoms: their centre outside every person of `persons` (N×5: x1, y1,
    x2, y2, iscrowd) or below the top `HEAD_SHARE` of each person box it lies in; inside a
    crowd region anywhere is a head's place unless `crowd_free` is False."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    ok = np.zeros(len(boxes), bool)
    for x1, y1, x2, y2, crowd in persons:
        inside = ((centre[:, 0] >= x1) & (centre[:, 0] <= x2) & (centre[:, 1] >= y1)
                  & (centre[:, 1] <= y2))
        ok |= inside & ((centre[:, 1] <= y1 + HEAD_SHARE * (y2 - y1)) | (crowd_free and crowd > 0))
    return ~ok


def street_photos(limit: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(file name, RGB, persons N×5) of the street photos."""
    coco = json.loads((DATA / STREET / "annotations.json").read_text())
    persons: dict[int, list[list[float]]] = {image["id"]: [] for image in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        persons[a["image_id"]].append([x, y, x + w, y + h, a["iscrowd"]])
    return [(image["file_name"], read_rgb(DATA / STREET / "images" / image["file_name"]),
             np.array(persons[image["id"]], np.float64).reshape(-1, 5))
            for image in coco["images"][:limit]]


def detect_all(name: str, limit: int | None, faces: FaceDetector,
               people: dict[str, PeopleDetector], only: str | None
               ) -> tuple[list[Picture], list[float]]:
    """The pictures of set `name` with their detections, and the mean seconds per picture of
    the face detector and of each people detector."""
    if name == STREET:
        items = street_photos(limit)
    else:
        items = [(s.name, s.rgb, s.faces) for s in load_samples(DATA / "detection" / name, limit)]
    pictures, seconds = [], np.zeros(1 + len(people))
    for file, rgb, truth in items:
        if only and part(file) != only:
            continue
        found = []
        for i, detector in enumerate((faces, *people.values())):
            start = time.perf_counter()
            found.append(detector.detect(rgb))
            seconds[i] += time.perf_counter() - start
        pictures.append(Picture(file, rgb, found[0], dict(zip(people, found[1:], strict=True)),
                                truth))
    return pictures, (seconds / max(len(pictures), 1)).tolist()


def score(pictures: list[Picture], support: FaceSupport, people: str | None,
          street: bool) -> dict[str, Tally]:
    """Per part, the tally of `support`'s kept boxes."""
    tallies = {p: Tally() for p in PARTS}
    for pic in pictures:
        t = tallies[part(pic.name)]
        start = time.perf_counter()
        kept = support.filter(pic.rgb, pic.faces, pic.people[people] if people else None)
        t.seconds += time.perf_counter() - start
        t.pictures += 1
        t.boxes += len(kept)
        h, w = pic.rgb.shape[:2]
        t.area += covered_share(kept.boxes, w, h)
        if street:
            t.phantoms += int(phantoms(kept.boxes, pic.truth).sum())
            t.literal += int(phantoms(kept.boxes, pic.truth, crowd_free=False).sum())
            continue
        gt = pic.truth
        hit = np.zeros(len(gt), bool)
        if len(gt) and len(kept):
            hit = iou_matrix(gt, kept.boxes).max(axis=1) >= MATCH_IOU
        bands = band_index((gt[:, 2:] - gt[:, :2]).max(axis=1))
        np.add.at(t.total, bands, 1)
        np.add.at(t.found, bands[hit], 1)
    return tallies


def street_table(rows: list[tuple[str, str, Tally]]) -> str:
    lines = ["| part | filter | phantoms / photo | issue's rule | face boxes / photo | "
             "area | filter s / photo |", "|---|---|---:|---:|---:|---:|---:|"]
    for group, label, t in rows:
        n = max(t.pictures, 1)
        lines.append(f"| {group} ({t.pictures} photos) | {label} | {t.phantoms / n:.2f} | "
                     f"{t.literal / n:.2f} | {t.boxes / n:.1f} | {t.area / n:.1%} | "
                     f"{t.seconds / n:.3f} |")
    return "\n".join(lines)


def faces_table(rows: list[tuple[str, str, Tally]]) -> str:
    head = " | ".join(f"{name}" for name, _, _ in BANDS)
    lines = [f"| set, part (faces {head}) | filter | {head} | area | filter s / picture |",
             "|---" * (len(BANDS) + 4) + "|"]
    for group, label, t in rows:
        recall = t.found / np.maximum(t.total, 1)
        n = max(t.pictures, 1)
        cells = " | ".join(f"{r:.3f}" for r in recall)
        lines.append(f"| {group} ({t.pictures}; {'/'.join(map(str, t.total))}) | {label} | "
                     f"{cells} | {t.area / n:.1%} | {t.seconds / n:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N pictures of each set")
    parser.add_argument("--sets", default=",".join((STREET, *REAL, *SQUEEZED)),
                        help="comma list of: people and the folders of shared/data/detection")
    parser.add_argument("--part", choices=PARTS, help="one part only (default: both)")
    parser.add_argument("--no-speed", action="store_true", help="skip the timing of the "
                        "product's detectors with the filter and without")
    parser.add_argument("--video", type=Path, nargs="?", const=DATA / "video",
                        help="also time the video detection pass (detection and tracking, "
                             "default options) on each clip of this folder (default: the dev "
                             "clips), with the filter and without")
    args = parser.parse_args(argv)

    faces = FaceDetector()
    model = YoloxModel()
    people = {name: PeopleDetector(settings, model) for name, settings in PEOPLE.items()}
    street_rows: list[tuple[str, str, Tally]] = []
    face_rows: list[tuple[str, str, Tally]] = []
    timing = []
    for name in args.sets.split(","):
        pictures, seconds = detect_all(name, args.limit, faces, people, args.part)
        timing.append(f"{name}: face detector {seconds[0]:.3f} s, people detector " + ", ".join(
            f"{key} {t:.3f} s" for key, t in zip(PEOPLE, seconds[1:], strict=True)))
        street = name == STREET
        results = [(label, score(pictures, FaceSupport(settings, faces.model, None), persons,
                                 street)) for label, settings, persons in VARIANTS]
        for group in PARTS:
            for label, tallies in results:
                if tallies[group].pictures:
                    target = street_rows if street else face_rows
                    target.append((group if street else f"{name}, {group}", label,
                                   tallies[group]))
    print(f"Filter defaults: {DEFAULT}\n")
    if street_rows:
        print("Street photos (phantom: centre outside every person or below the top 30 % of "
              "each; inside a COCO crowd region not a phantom)\n")
        print(street_table(street_rows))
    if face_rows:
        print(f"\nFace sets: recall by size band (found = IoU >= {MATCH_IOU}), area covered\n")
        print(faces_table(face_rows))
    print("\nSeconds per picture: " + "; ".join(timing))
    if not args.no_speed:
        print("\n" + speed())
    if args.video:
        print("\n" + video_table(args.video))


def video_table(folder: Path) -> str:
    """Per clip: seconds of `detect_video` (decode, detection, tracking) with the filter and
    without, the face boxes covered per frame each way, the share of the picture covered each
    way (`bench/video.py`'s `covered_area`), and the frames where a face of bench/video.py's
    reference pass (the photo detector at 0.3 on every frame, cached there) is left uncovered
    each way."""
    options = Options()
    light, thorough = video_detectors(options)
    plain = (KindsDetector(light.faces, light.text, light.people),
             None if thorough is None else
             KindsDetector(thorough.faces, thorough.text, thorough.people))
    lines = ["| clip | frames | without the filter s | with it s | cost | face boxes / frame "
             "without | with | area without | with | leaked frames without | with |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    clips = [line.split("\t")[0] for line in
             (folder / "videos.tsv").read_text().splitlines()[1:] if line.strip()]
    total = np.zeros(2)
    for clip in clips:
        seconds, boxes, area, leaked = [], [], [], []
        for detectors in (plain, (light, thorough)):
            start = time.perf_counter()
            _, frames = detect_video(folder / clip, options, *detectors)
            seconds.append(time.perf_counter() - start)
            boxes.append(np.mean([len(f.of_kind("face")) for f in frames]))
            area.append(video_bench.covered_area(folder / clip, frames))
            leaked.append(len({i for i, _, _ in video_bench.leaks(folder / clip, frames)}))
        total += seconds
        lines.append(f"| {clip[:40]} | {len(frames)} | {seconds[0]:.2f} | {seconds[1]:.2f} | "
                     f"{seconds[1] / seconds[0] - 1:+.0%} | {boxes[0]:.2f} | {boxes[1]:.2f} | "
                     f"{area[0]:.1%} | {area[1]:.1%} | {leaked[0]} | {leaked[1]} |")
    lines.append(f"| all | | {total[0]:.2f} | {total[1]:.2f} | {total[1] / total[0] - 1:+.0%} "
                 "| | | | | | |")
    return "\n".join(lines)


def speed(runs: int = 3) -> str:
    """Seconds (best of `runs`) of the product's detectors on a 12 MP photo and, for video, of
    the light and the thorough one on a 1280×720 frame, with the filter and without: a
    faces_real photo (a crowd) resized."""
    source = load_samples(DATA / "detection" / "faces_real", 1)[0].rgb
    lines = ["| picture | detector | without the filter s | with it s | cost |",
             "|---|---|---:|---:|---:|"]
    light, thorough = video_detectors(Options())
    for label, size, detector in (("12 MP photo", (4000, 3000), photo_detector(Options())),
                                  ("1280×720 frame", (1280, 720), light),
                                  ("1280×720 frame", (1280, 720), thorough)):
        assert detector is not None
        rgb = cv2.resize(source, size, interpolation=cv2.INTER_CUBIC)
        seconds = []
        for support in (None, detector.support):
            plain = KindsDetector(detector.faces, detector.text, detector.people, support)
            plain.detect(rgb)  # warm-up
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                plain.detect(rgb)
                times.append(time.perf_counter() - start)
            seconds.append(min(times))
        name = "light (video)" if detector is light else \
            "thorough (video)" if detector is thorough else "photo"
        lines.append(f"| {label} | {name} | {seconds[0]:.3f} | {seconds[1]:.3f} | "
                     f"{seconds[1] / seconds[0] - 1:+.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
