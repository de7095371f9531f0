"""People benchmark: whole people covered, on `shared/data/people` (COCO photos with person
masks).

Each photo is anonymized through the API as `--cover faces,people` would (`anonymize_image`),
and a pixel counts as hidden when the output differs from the input there (a pixel that was
pure black, the solid cover's colour, counts as hidden too: a cover can't change it). For each
annotated person (its mask: polygons filled, RLE decoded) the share of its pixels hidden is
scored; the table gives the mean, and the mean by COCO size (small: mask area < 32², medium:
< 96², large). "non-person hidden" is the share of the pixels outside every person's mask that
are hidden: the cost. `iscrowd` regions (a crowd annotated as one region) are people but no
one person: they are left out of the per-person figures and out of the non-person pixels, and
their own hidden share is given on a line of their own. Photos without people measure false
alarms: the share of them with any person box, and the share of their pixels hidden.

"raw boxes" is the person detector alone (`PeopleDetector`, its boxes filled as they are,
no faces), padded by `--pad` pixels on each side when asked (0: unpadded). "annotated boxes"
fills the annotations' own boxes: what filling perfect boxes would cost (a person fills about
half of their box), the floor of the non-person figure for any method that fills boxes.
"non-person hidden" is given as the mean over the photos with people, and pooled: the hidden
non-person pixels of all photos (with and without people) over all their non-person pixels.

Reported per part (see `part`: the settings were chosen on "tune" only; "held-out" is scored,
never tuned on) and for all photos, then seconds per photo and per 720p and 1080p frame.

    python bench/people.py [--part tune|held-out|all] [--pad 2] [-v]

Caution (the data's README): these are COCO train2017 photos, which YOLOX was trained on, so
the figures are optimistic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from blindspot.detect.people import PeopleDetector, PeopleSettings
from blindspot.options import Options
from blindspot.redact import SOLID_COLOUR
from blindspot.run.pipeline import anonymize_image

PEOPLE_DIR = Path(__file__).resolve().parents[1] / "../shared/data/people"
PARTS = ("tune", "held-out")
COVER = ("faces", "people")
SIZES = (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, float("inf")))
FRAMES = {"1280×720 frame": (1280, 720), "1920×1080 frame": (1920, 1080),
          "3840×2160 frame": (3840, 2160), "12 MP photo (4000×3000)": (4000, 3000)}


def part(name: str) -> str:
    """The fixed part a file belongs to (as in bench/detection.py): "tune" or "held-out"."""
    return PARTS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2]


def rle_counts(counts: str | list[int]) -> list[int]:
    """The run lengths of a COCO RLE: a list as it is, or COCO's compressed string (5 bits a
    character from '0', 0x20 = more to come, 0x10 = negative; from the fourth on, each run is
    stored as its difference to the run two before)."""
    if not isinstance(counts, str):
        return list(counts)
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            c = ord(counts[pos]) - 48
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_mask(rle: dict) -> np.ndarray:
    """The H×W boolean mask of a COCO RLE (`size` [H, W], `counts`): runs alternate 0s and 1s,
    0s first, down the columns (column-major)."""
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos = 0
    for i, run in enumerate(rle_counts(rle["counts"])):
        if i % 2:
            flat[pos:pos + run] = True
        pos += run
    return flat.reshape(w, h).T


def person_mask(ann: dict, h: int, w: int) -> np.ndarray:
    """The mask of one annotation: its polygons filled, or its RLE decoded."""
    seg = ann["segmentation"]
    if isinstance(seg, dict):
        return rle_mask(seg)
    mask = np.zeros((h, w), np.uint8)
    polys = [np.round(np.reshape(p, (-1, 2))).astype(np.int32) for p in seg if len(p) >= 6]
    cv2.fillPoly(mask, polys, 1)
    return mask.astype(bool)


def read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"can't read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def hidden(rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
    black = np.all(rgb == SOLID_COLOUR, axis=2)
    return np.any(rgb != out, axis=2) | black


def filled(boxes: np.ndarray, h: int, w: int, pad: float = 0.0) -> np.ndarray:
    """The pixels of `boxes` (N×4, x1 y1 x2 y2), each grown by `pad` pixels on every side."""
    mask = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in np.reshape(boxes, (-1, 4)).tolist():
        mask[max(0, int(y1 - pad)):max(0, int(np.ceil(y2 + pad))),
             max(0, int(x1 - pad)):max(0, int(np.ceil(x2 + pad)))] = True
    return mask


def score_photos(images: list[dict], by_image: dict, detector: PeopleDetector, pad: float,
                 api: bool = True, verbose: bool = False) -> dict:
    """{method: {row: [values]}} and seconds per photo, for `images` (COCO image entries)."""
    rows: dict = defaultdict(lambda: defaultdict(list))
    seconds, seconds_people = [], []
    for im in images:
        rgb = read(PEOPLE_DIR / "images" / im["file_name"])
        h, w = rgb.shape[:2]
        anns = by_image.get(im["id"], [])
        masks, boxes = {}, {}
        if api:
            start = time.perf_counter()
            out, covered = anonymize_image(rgb, Options(cover=COVER))
            seconds.append(time.perf_counter() - start)
            masks["--cover faces,people"] = hidden(rgb, out)
            boxes["--cover faces,people"] = len(covered.of_kind("person"))
        start = time.perf_counter()
        raw = detector.detect(rgb)
        seconds_people.append(time.perf_counter() - start)
        masks["raw boxes"] = filled(raw.boxes, h, w, pad)
        boxes["raw boxes"] = len(raw)
        annotated = [[x, y, x + bw, y + bh] for x, y, bw, bh in
                     (a["bbox"] for a in anns if not a["iscrowd"])]
        masks["annotated boxes"] = filled(np.array(annotated), h, w)
        boxes["annotated boxes"] = len(annotated)
        people = np.zeros((h, w), bool)
        crowd = np.zeros((h, w), bool)
        persons = []
        for ann in anns:
            mask = person_mask(ann, h, w)
            if ann["iscrowd"]:
                crowd |= mask
            else:
                people |= mask
                persons.append((ann, mask))
        for name, hid in masks.items():
            other = ~(people | crowd)
            rows[name]["pooled"].append((int(hid[other].sum()), int(other.sum())))
            if not anns:
                rows[name]["photos without people: with a person box"].append(boxes[name] > 0)
                rows[name]["photos without people: pixels hidden"].append(hid.mean())
                continue
            for ann, mask in persons:
                if not mask.any():
                    continue
                share = hid[mask].mean()
                size = next(n for n, lo, hi in SIZES if lo <= ann["area"] < hi)
                rows[name]["people"].append(share)
                rows[name][size].append(share)
                if verbose and share < 0.5 and name != "raw boxes":
                    x, y, bw, bh = (round(v) for v in ann["bbox"])
                    print(f"  missed: {im['file_name']} person {ann['id']} at {x},{y} "
                          f"{bw}×{bh}: {share:.0%} hidden")
            if crowd.any():
                rows[name]["crowd regions (iscrowd)"].append(hid[crowd].mean())
            rows[name]["non-person pixels hidden"].append(hid[other].mean())
    return {"rows": rows, "seconds": float(np.mean(seconds)) if seconds else float("nan"),
            "seconds_people": float(np.mean(seconds_people))}


ROWS = ("people", "small", "medium", "large", "crowd regions (iscrowd)",
        "non-person pixels hidden", "pooled", "photos without people: with a person box",
        "photos without people: pixels hidden")


def cell(values: list) -> str:
    if not values:
        return "–"
    if isinstance(values[0], tuple):  # (hidden, total) pixels, pooled
        hid, total = np.sum(values, axis=0)
        return f"{hid / max(total, 1):.3f}"
    return f"{np.mean(values):.3f} ({len(values)})"


def print_table(title: str, result: dict, pad: float) -> None:
    rows = result["rows"]
    names = [n for n in ("--cover faces,people", "raw boxes", "annotated boxes") if n in rows]
    label = {"raw boxes": f"person detector's boxes + {pad:g} px" if pad else
             "person detector's boxes", "annotated boxes": "annotated boxes (reference)"}
    print(f"\n### {title}: mean share hidden (number of people, regions or photos)\n")
    print("| | " + " | ".join(label.get(n, n) for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for row in ROWS:
        if any(rows[n].get(row) for n in names):
            name = {"small": "small people (< 32² px)", "medium": "medium (< 96² px)",
                    "large": "large", "people": "each person (mean)",
                    "non-person pixels hidden": "non-person pixels hidden (mean per photo)",
                    "pooled": "non-person pixels hidden (pooled, all photos)"}.get(row, row)
            print(f"| {name} | " + " | ".join(cell(rows[n].get(row, [])) for n in names) + " |")
    seconds = [f"{result['seconds']:.2f}" if result["seconds"] == result["seconds"] else "",
               f"{result['seconds_people']:.2f}", ""]
    print("| seconds per photo | " + " | ".join(seconds[:len(names)]) + " |")


def best(fn, image: np.ndarray, runs: int = 3) -> float:
    fn(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - start)
    return min(times)


def timings(photo: np.ndarray) -> dict:
    """Seconds of the person detector alone, photo and video settings, on frames made from
    `photo` (the model's input is fixed, so the time depends on the frame's shape only)."""
    photo_det = PeopleDetector()
    video_det = PeopleDetector(PeopleSettings.video(), model=photo_det.model)
    out = {}
    for name, size in FRAMES.items():
        frame = cv2.resize(photo, size, interpolation=cv2.INTER_LINEAR)
        for label, det in (("photo", photo_det), ("video", video_det)):
            passes = 1 + len(det.tiles(*size))
            out[f"{name}, {label} settings ({passes} passes)"] = best(det.detect, frame, 5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all",
                        help="which photos to score (default: each part, then all)")
    parser.add_argument("--pad", type=float, default=0.0,
                        help="pad the raw boxes by this share of their height on each side")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list people less than half hidden")
    args = parser.parse_args()
    data = json.loads((PEOPLE_DIR / "annotations.json").read_text())
    by_image: dict = defaultdict(list)
    for ann in data["annotations"]:
        by_image[ann["image_id"]].append(ann)
    detector = PeopleDetector()
    wanted = PARTS if args.part == "all" else (args.part,)
    results = {}
    for name in wanted:
        chosen = [im for im in data["images"] if part(im["file_name"]) == name]
        results[name] = score_photos(chosen, by_image, detector, args.pad, verbose=args.verbose)
        with_people = sum(1 for im in chosen if im["id"] in by_image)
        print_table(f"{name} ({len(chosen)} photos, {with_people} with people)",
                    results[name], args.pad)
    if args.part == "all":
        merged: dict = {"rows": defaultdict(lambda: defaultdict(list)), **{
            key: float(np.mean([r[key] for r in results.values()]))
            for key in ("seconds", "seconds_people")}}
        for r in results.values():
            for method, rows in r["rows"].items():
                for row, values in rows.items():
                    merged["rows"][method][row] += values
        print_table(f"all ({len(data['images'])} photos)", merged, args.pad)

    print("\n### Seconds of the person detector alone (this machine, all cores)\n")
    print("| picture | seconds |")
    print("|---|---|")
    photo = read(PEOPLE_DIR / "images" / data["images"][0]["file_name"])
    for name, seconds in timings(photo).items():
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
