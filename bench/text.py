"""Text benchmark: licence plates and scene text covered, on `shared/data/text`.

For each photo of the text set (plates: OpenALPR US/EU/BR car photos and Romanian dashcam
frames; scene text: ICDAR 2015 words, a receipt's lines, CCTV name tags) it anonymizes the
photo as `--cover faces,plates` and `--cover text` would, and counts an annotated box as
covered when at least 80 % of its pixels are hidden in the output. A pixel is hidden when it
changed; a pixel that was pure black (0, 0, 0, the solid cover's colour) counts as hidden too,
since a cover can't change it (rare in photos, and an upper bound only for those pixels).
"raw" is the reference of the data README: the text detector's boxes as they are, unpadded,
without faces.

Reported per part (see `part`: settings were chosen on "tune" only; "held-out" is scored, never
tuned on) and for all photos: covered share by kind, by source (ICDAR with and without its
`illegible` words; "legible" = ICDAR words not marked illegible + receipt lines), by box height;
the share of the image area changed; seconds per photo. Then plate false alarms: PLATE boxes
on photos without plates (the scene-text photos and the face photos of
`shared/data/detection`) and the share of their area those boxes cover. Then timings: the
extra seconds text costs on a 12-megapixel photo, and seconds per 1080p video frame.

Then the words of `shared/data/text2` (Russian words rendered on COCO photos: placards, name
badges, round patches with names along the rim, T-shirt prints, shop signs; straight and
arched, most rotated): a word is covered when at least 80 % of its polygon's pixels are
hidden; recall by label, by shape (curved or straight) and by letter height, per part. And the
cost: the share of the picture `--cover text` hides on the street photos of
`shared/data/people` (COCO; mostly no text at all) and on text-free face photos.

Then small names (`bench/small_text.py`: a round patch with names along its rim and a straight
name tag, Latin or Cyrillic capitals 5-9 px high, drawn on each street photo): a word is
covered when at least 80 % of its letters' pixels are hidden; by kind, script and letter height.

    python bench/text.py [--part tune|held-out|all] [--only plates,words,area,small,timing] [-v]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import small_text

from blindspot.detections import PLATE, Detections
from blindspot.options import Options
from blindspot.redact import SOLID_COLOUR, coverage_mask
from blindspot.run.pipeline import anonymize_image, detect_image, photo_detector, video_detectors

DATA = Path(__file__).resolve().parents[1] / "../shared/data"
TEXT_DIR = DATA / "text"
WORDS_DIR = DATA / "text2"
STREET_DIR = DATA / "people" / "images"
HEIGHTS = [("<10 px", 0, 10), ("10–16 px", 10, 16), ("16–25 px", 16, 25), ("≥25 px", 25, 1e9)]
FACE_GLOBS = ["detection/wider_val_subset/images_*/**/*.jpg", "detection/dlib_faces/images/*"]
PARTS = ("tune", "held-out")
COVERS = {"faces,plates": ("faces", "plates"), "text": ("faces", "text")}
BANDS = [("<10 px", 0, 10), ("10–20 px", 10, 20), ("20–40 px", 20, 40), ("≥40 px", 40, 1e9)]
COVERED = 0.8
WHOLE = 0.98
BIG_SIZE = (4000, 3000)  # a 12-megapixel photo
HD_SIZE = (1920, 1080)


def part(name: str) -> str:
    """The fixed part a file belongs to (as in bench/detection.py): "tune" or "held-out"."""
    return PARTS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2]


def _cover(rgb: np.ndarray, cover: tuple[str, ...]) -> tuple[np.ndarray, Detections]:
    """What blindspot's API makes of `rgb` with `--cover` `cover`: the output and its boxes."""
    return anonymize_image(rgb, Options(cover=cover))


def hidden(rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
    black = np.all(rgb == SOLID_COLOUR, axis=2)
    return np.any(rgb != out, axis=2) | black


def read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"can't read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def groups(entry: dict, box: dict) -> list[str]:
    """The table rows a box counts in."""
    rows = [f"kind {entry['kind']}", f"source {entry['source']}"]
    if entry["source"] == "icdar2015":
        rows.append("icdar2015 legible" if not box.get("illegible") else "icdar2015 illegible")
    if entry["source"] == "wildreceipt" or (entry["source"] == "icdar2015"
                                            and not box.get("illegible")):
        rows.append("legible scene text")
    h = box["xywh"][3]
    rows += [f"height {name}" for name, lo, hi in BANDS if lo <= h < hi]
    return rows


def score_text(entries: list[dict], verbose: bool) -> dict:
    """{config: {row: [covered flags]}}, areas and times."""
    flags: dict = defaultdict(lambda: defaultdict(list))
    areas: dict = defaultdict(lambda: defaultdict(list))
    seconds = []
    for entry in entries:
        rgb = read(TEXT_DIR / entry["file"])
        h, w = rgb.shape[:2]
        outs = {}
        for name, cover in COVERS.items():
            start = time.perf_counter()
            outs[name] = _cover(rgb, cover)
            if name == "text":
                seconds.append(time.perf_counter() - start)
        masks = {name: hidden(rgb, out) for name, (out, _) in outs.items()}
        raw = outs["text"][1].of_kind("plate", "text")
        masks["raw"] = np.zeros((h, w), bool)
        for x1, y1, x2, y2 in raw.boxes:
            masks["raw"][int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
        for name, mask in masks.items():
            areas[name][entry["kind"]].append(mask.mean())
            for box in entry["boxes"]:
                x, y, bw, bh = (int(round(v)) for v in box["xywh"])
                share = mask[y:y + bh, x:x + bw].mean()
                covered = share >= COVERED
                for row in groups(entry, box):
                    flags[name][row].append(covered)
                if box["kind"] == "plate":  # a plate covered whole: characters and frame
                    flags[name]["plate covered whole (≥ 98 %)"].append(share >= WHOLE)
                if verbose and not covered and name in ("text", "faces,plates") and (
                        name == "text" or entry["kind"] == "plate"):
                    print(f"  missed ({name}): {entry['file']} {box['xywh']} "
                          f"{box.get('label') or box['kind']}")
    return {"flags": flags, "areas": areas, "seconds": float(np.mean(seconds))}


def score_words(entries: list[dict], verbose: bool) -> dict[str, list[bool]]:
    """{row: [covered flags]} of the words of text2 under `--cover text`."""
    flags: dict[str, list[bool]] = defaultdict(list)
    for entry in entries:
        rgb = read(WORDS_DIR / entry["file"])
        out, _ = _cover(rgb, COVERS["text"])
        mask = hidden(rgb, out)
        for box in entry["boxes"]:
            poly = np.zeros(mask.shape, np.uint8)
            cv2.fillPoly(poly, [np.round(np.array(box["polygon"])).astype(np.int32)], 1)
            inside = poly.astype(bool)
            covered = bool(mask[inside].mean() >= COVERED) if inside.any() else True
            rows = ["all words", f"label {box['label']}",
                    "curved" if box.get("curved") else "straight"]
            rows += [f"letters {n}" for n, lo, hi in HEIGHTS if lo <= box["text_height"] < hi]
            for row in rows:
                flags[row].append(covered)
            if verbose and not covered:
                print(f"  missed: {entry['file']} {box['label']} "
                      f"{'curved' if box.get('curved') else 'straight'} "
                      f"{box['text_height']:.0f} px")
    return flags


def area_hidden(files: list[Path]) -> tuple[int, float, float]:
    """(photos, mean share of the picture `--cover text` hides beyond the faces, max)."""
    shares = []
    for path in files:
        rgb = read(path)
        faces, _ = anonymize_image(rgb, Options(cover=("faces",)))
        text, _ = anonymize_image(rgb, Options(cover=("faces", "text")))
        shares.append(float((hidden(rgb, text) & ~hidden(rgb, faces)).mean()))
    return len(shares), float(np.mean(shares)) if shares else 0.0, max(shares, default=0.0)


def plate_alarms(files: list[Path]) -> tuple[int, float, float, float]:
    """(photos, PLATE boxes per photo, share of photos with one, mean area share covered)."""
    counts, area = [], []
    for path in files:
        rgb = read(path)
        h, w = rgb.shape[:2]
        found = detect_image(rgb, Options(cover=("plates",)))
        plates = found.select(found.kinds == PLATE)
        counts.append(len(plates))
        area.append(coverage_mask(plates, 1.0, w, h).mean())
    if not counts:
        return 0, 0.0, 0.0, 0.0
    counts_a = np.array(counts)
    return len(counts), float(counts_a.mean()), float((counts_a > 0).mean()), float(np.mean(area))


def timings() -> dict:
    """Seconds: faces alone and faces + text on a 12 MP photo; text per 1080p frame."""
    photo = read(TEXT_DIR / "plates/us/wts-lg-000017.jpg")
    big = cv2.resize(photo, BIG_SIZE, interpolation=cv2.INTER_CUBIC)
    hd = cv2.resize(read(TEXT_DIR / "plates/ro_dashcam/dayride_type1_001_t1117.jpg"), HD_SIZE,
                    interpolation=cv2.INTER_CUBIC)
    faces = photo_detector(Options()).faces
    text = photo_detector(Options(cover=("plates",))).text
    video = video_detectors(Options(cover=("plates",)))[0].text

    def best(fn, image, runs=2):
        fn(image)
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            fn(image)
            out.append(time.perf_counter() - start)
        return min(out)

    t_faces = best(faces.detect, big)
    t_text = best(text.detect, big)
    return {"12 MP faces": t_faces, "12 MP text (extra)": t_text,
            "1080p frame text, photo settings": best(text.detect, hd),
            "1080p frame text, video settings": best(video.detect, hd, 3)}


def share(values: list) -> str:
    return f"{np.mean(values):.2f} ({int(np.sum(values))}/{len(values)})" if values else "–"


def print_table(title: str, result: dict) -> None:
    flags, areas = result["flags"], result["areas"]
    names = ["faces,plates", "text", "raw"]
    rows = sorted({row for name in names for row in flags[name]})
    order = [r for r in rows if r.startswith(("kind", "plate covered"))] + \
        [r for r in rows if r.startswith("source")] + \
        [r for r in rows if r.startswith(("icdar", "legible"))] + \
        [f"height {b[0]}" for b in BANDS if f"height {b[0]}" in rows]
    print(f"\n### {title}: covered share (≥ {COVERED:.0%} of the box hidden)\n")
    print("| boxes | " + " | ".join(f"--cover {n}" if n != "raw" else "raw detector (unpadded)"
                                    for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for row in order:
        print(f"| {row} | " + " | ".join(share(flags[n][row]) for n in names) + " |")
    for kind in ("plate", "scene_text"):
        print(f"| area changed, {kind} photos | " +
              " | ".join(f"{np.mean(areas[n][kind]):.1%}" if areas[n][kind] else "–"
                         for n in names) + " |")
    print(f"| seconds per photo (--cover text) | | {result['seconds']:.2f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all",
                        help="which photos to score (default: each part, then all)")
    parser.add_argument("--only", default="plates,words,area,small,timing",
                        help="which tables: plates (the text set), words (text2), area "
                             "(street and face photos), small (synthetic small names), timing")
    parser.add_argument("-v", "--verbose", action="store_true", help="list missed boxes")
    args = parser.parse_args()
    only = set(args.only.split(","))
    wanted = PARTS if args.part == "all" else (args.part,)
    if "plates" in only:
        plates_tables(args, wanted)
    if "words" in only:
        words_table(wanted, args.verbose)
    if "area" in only:
        area_table(wanted)
    if "small" in only:
        small_table(wanted, args.verbose)
    if "timing" in only:
        print("\n### Seconds (this machine, all cores)\n")
        for name, seconds in timings().items():
            print(f"| {name} | {seconds:.2f} |")


def words_table(wanted: tuple[str, ...], verbose: bool) -> None:
    entries = json.loads((WORDS_DIR / "annotations.json").read_text())
    results = {name: score_words([e for e in entries if part(e["file"]) == name], verbose)
               for name in wanted}
    rows = ["all words", "straight", "curved"]
    rows += sorted({r for f in results.values() for r in f if r.startswith("label")})
    rows += [f"letters {n}" for n, _, _ in HEIGHTS]
    print("\n### text2: Russian words covered (`--cover text`, ≥ 80 % of the polygon hidden)\n")
    print("| words | " + " | ".join(wanted) + " |")
    print("|---|" + "---|" * len(wanted))
    for row in rows:
        print(f"| {row} | " + " | ".join(share(results[n].get(row, [])) for n in wanted) + " |")


def small_table(wanted: tuple[str, ...], verbose: bool) -> None:
    flags: dict[str, dict[str, list[bool]]] = {}
    for name in wanted:
        flags[name] = defaultdict(list)
        for file, rgb, words in small_text.items(name, STREET_DIR, part):
            out, _ = _cover(rgb, COVERS["text"])
            mask = hidden(rgb, out)
            for letters, facts in words:
                covered = bool(mask[letters].mean() >= COVERED)
                band = "5-7 px" if facts["cap"] < 7 else "7-9 px"
                for row in ("all names", f"{facts['kind']}", facts["script"], f"letters {band}"):
                    flags[name][row].append(covered)
                if verbose and not covered:
                    print(f"  missed: {file} {facts['kind']} {facts['script']} "
                          f"{facts['cap']:.1f} px")
    rows = ["all names", "patch", "tag", "latin", "cyrillic", "letters 5-7 px",
            "letters 7-9 px"]
    print("\n### Small names covered (`--cover text`, ≥ 80 % of the letters hidden)\n")
    print("| names | " + " | ".join(wanted) + " |")
    print("|---|" + "---|" * len(wanted))
    for row in rows:
        print(f"| {row} | " + " | ".join(share(flags[n].get(row, [])) for n in wanted) + " |")


def area_table(wanted: tuple[str, ...]) -> None:
    streets = sorted(STREET_DIR.glob("*.jpg"))
    faces = sorted(Path(f) for g in FACE_GLOBS
                   for f in glob.glob(str(DATA / g), recursive=True))
    print("\n### Area `--cover text` hides beyond the faces (the cost)\n")
    print("| photos | part | n | mean | max |")
    print("|---|---|---|---|---|")
    for label, files in (("street (people/)", streets), ("faces (detection/)", faces)):
        for name in wanted:
            chosen = [f for f in files if part(f.name) == name]
            n, mean, most = area_hidden(chosen)
            print(f"| {label} | {name} | {n} | {mean:.2%} | {most:.1%} |")


def plates_tables(args: argparse.Namespace, wanted: tuple[str, ...]) -> None:
    entries = json.loads((TEXT_DIR / "annotations.json").read_text())
    results = {}
    for name in wanted:
        chosen = [e for e in entries if part(e["file"]) == name]
        results[name] = score_text(chosen, args.verbose)
        print_table(f"{name} ({len(chosen)} photos)", results[name])
    if args.part == "all":
        merged = {"flags": defaultdict(lambda: defaultdict(list)),
                  "areas": defaultdict(lambda: defaultdict(list)),
                  "seconds": float(np.mean([r["seconds"] for r in results.values()]))}
        for r in results.values():
            for key in ("flags", "areas"):
                for config, rows in r[key].items():
                    for row, values in rows.items():
                        merged[key][config][row] += values
        print_table(f"all ({len(entries)} photos)", merged)

    print("\n### PLATE boxes on photos without plates (`--cover faces,plates` false alarms)\n")
    print("| photos | part | n | PLATE boxes per photo | photos with one | area covered |")
    print("|---|---|---|---|---|---|")
    scene = [e["file"] for e in entries if e["kind"] == "scene_text"]
    faces = sorted({os.path.relpath(f, DATA) for g in FACE_GLOBS
                    for f in glob.glob(str(DATA / g), recursive=True)})
    for label, files, root in (("scene text", scene, TEXT_DIR), ("faces", faces, DATA)):
        for name in wanted:
            chosen = [root / f for f in files if part(f) == name]
            n, per, with_one, area = plate_alarms(chosen)
            print(f"| {label} | {name} | {n} | {per:.2f} | {with_one:.0%} | {area:.2%} |")


if __name__ == "__main__":
    main()
