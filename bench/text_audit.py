"""Text audit benchmark: does `blindspot audit --cover text --original` FAIL an output where a
word can still be read, and PASS one where none can?

On the photos of `shared/data/text` (plates, scene text) and `shared/data/text2` (synthetic
Russian text on COCO photos: placards, name badges, round patches, shirts, signs), split in a
tune and a held-out part by a SHA-256 of the file name (`part`, as bench/text.py; every
threshold was chosen on tune), each photo is anonymized with `--cover text` (blindspot's API,
JPEG photos saved again as JPEG at the product's quality) and audited with its original, as:

(a) correct: the product's output with every annotated word, line or plate also covered
    (solid, the annotation's polygon grown by a tenth of its height): no annotated text is
    left, and the audit should PASS it;
(b) planted: the correct output with one legible annotated word pasted back from the original
    (text given, not marked illegible, text height 10 px or more, 3 letters or digits or
    more): one per such word; the audit should FAIL it;
(c) the product's own output as it is: a FAIL is text the product left readable (a real leak,
    or text nobody annotated).

Also without the original (the correct outputs: how often the audit FAILs them with nothing to
compare with), the demo's astronaut (its `--cover text` output must PASS: the mission patch's
names are covered; with the patch pasted back from the original it must FAIL), and seconds
per photo (the text check only: the original read, the output read again where the original
has words).

`--tune` prints, for the tune part, the shares of (a) and (b) over a grid of thresholds (from
one reading at the loosest; the thresholds the audit uses are `AuditSettings`' defaults).

    python bench/text_audit.py [--part tune|held-out|all] [--tune] [--cache DIR] [-v]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import pickle
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from blindspot.audit import AuditSettings
from blindspot.audit import tesseract as tess
from blindspot.audit.attack import text_rules
from blindspot.audit.text import Rules, left_at, read_picture, reread, text_left
from blindspot.media.photo_sink import JPEG_QUALITY
from blindspot.options import Options
from blindspot.run.pipeline import anonymize_image

DATA = Path(__file__).resolve().parents[1] / "../shared/data"
SETS = ("text", "text2")
PARTS = ("tune", "held-out")
MIN_HEIGHT = 10
READING_VERSION = 10  # bump when the reading changes: the cache keeps readings by these
REREAD_VERSION = 7
LOOSE = Rules(pp_ocr=0.4, tesseract=0.4, similar=0.7)  # what is read again, at the loosest
TIMED = 5  # the text check is timed afresh on every TIMED-th photo
# The astronaut's mission patch (the circle of names on its left sleeve), in its pixels.
PATCH = (170, 385, 44)


def part(name: str) -> str:
    """The fixed part a file belongs to (as in bench/text.py): "tune" or "held-out"."""
    return PARTS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2]


def read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"can't read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def saved(rgb: np.ndarray, jpeg: bool) -> np.ndarray:
    """`rgb` as the product saves it (JPEG at its quality for a JPEG photo; PNG is lossless)."""
    if not jpeg:
        return rgb
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def polygon(box: dict) -> np.ndarray:
    if box.get("polygon"):
        return np.asarray(box["polygon"], np.float32)
    if box.get("quad"):
        return np.asarray(box["quad"], np.float32).reshape(-1, 2)
    x, y, w, h = box["xywh"]
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def text_height(box: dict) -> float:
    if "text_height" in box:
        return float(box["text_height"])
    return float(cv2.minAreaRect(polygon(box))[1][1]) if box.get("quad") else box["xywh"][3]


def legible(box: dict) -> bool:
    text = box.get("text")
    return bool(text) and not box.get("illegible") and text_height(box) >= MIN_HEIGHT \
        and sum(c.isalnum() for c in text) >= 3


def mask_of(box: dict, shape: tuple[int, ...], grow: bool = True) -> np.ndarray:
    """The annotation's polygon, grown by a tenth of its text height (2 px at least)."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon(box)).astype(np.int32)], 1)
    if not grow:
        return mask.astype(bool)
    grow = max(2, round(text_height(box) / 10))
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)


def entries(parts: tuple[str, ...]) -> list[dict]:
    out = []
    for name in SETS:
        for e in json.loads((DATA / name / "annotations.json").read_text()):
            if part(e["file"]) in parts:
                out.append({**e, "set": name, "path": DATA / name / e["file"]})
    return out


class Cache:
    """Pickles of the readings, by key, in `folder` (None: nothing kept)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, make):  # noqa: ANN001, ANN201 - any picklable value
        if self.folder is None:
            return make()
        path = self.folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".pkl")
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = make()
        path.write_bytes(pickle.dumps(value))
        return value


def outputs(entry: dict) -> tuple[np.ndarray, dict[str, np.ndarray], set[int]]:
    """The original, its outputs ("product", "correct", "planted N": N the box's index), and
    the boxes the product left (less than 80 % of the annotation hidden)."""
    rgb = read(entry["path"])
    jpeg = entry["path"].suffix.lower() in (".jpg", ".jpeg")
    product, _ = anonymize_image(rgb, Options(cover=("faces", "text")))
    changed = np.any(product != rgb, axis=2) | np.all(rgb == 0, axis=2)
    left = {i for i, box in enumerate(entry["boxes"])
            if changed[mask_of(box, rgb.shape, grow=False)].mean() < 0.8}
    correct = product.copy()
    for box in entry["boxes"]:
        correct[mask_of(box, rgb.shape)] = 0
    outs = {"product": saved(product, jpeg), "correct": saved(correct, jpeg)}
    for i, box in enumerate(entry["boxes"]):
        if legible(box):
            planted = correct.copy()
            mask = mask_of(box, rgb.shape)
            planted[mask] = rgb[mask]
            outs[f"planted {i}"] = saved(planted, jpeg)
    return rgb, outs, left


def astronaut() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The demo's photo (as the demo saves it) and its `--cover text` output, as is and with
    the mission patch pasted back from the photo."""
    from skimage import data
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=95)
    rgb = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    product, _ = anonymize_image(rgb, Options(cover=("faces", "text")))
    pasted = product.copy()
    x, y, r = PATCH
    patch = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(patch, (x, y), r, 1, -1)
    pasted[patch > 0] = rgb[patch > 0]
    return rgb, {"product": saved(product, True), "pasted": saved(pasted, True)}


# ---------------------------------------------------------------------------- the product run


def collect(entry: dict, cache: Cache) -> dict:
    """One photo's readings: the original's words, what is read again at their places in
    each output (every word LOOSE reads: a stricter rule looks at a subset, and a word's
    re-reading does not depend on the others), and the correct output's words read without
    the original."""
    rgb, outs, left_by_product = outputs(entry)
    key = f"{READING_VERSION}|{entry['path']}"
    words = cache.get(f"words{key}", lambda: read_picture(rgb))
    sure = [w for w in words if LOOSE.readable(w)]
    again = {name: cache.get(f"reread{READING_VERSION}.{REREAD_VERSION}|{entry['path']}|{name}",
                             lambda o=out: reread(o, sure))
             for name, out in outs.items()}
    alone = cache.get(f"alone{key}", lambda: read_picture(outs["correct"]))
    return {"entry": entry, "sure": sure, "again": again, "alone": alone,
            "left by the product": left_by_product, "rgb": rgb, "correct": outs["correct"]}


def verdicts(data: list[dict], rules: Rules, alone: Rules, verbose: bool = False) -> dict:
    """{(set, row): [FAIL flags]} at these rules (with the original, and without it)."""
    v: dict = defaultdict(list)
    for d in data:
        entry = d["entry"]
        for name, rereads in d["again"].items():
            found = [(w, left_at(w, r, rules)) for w, r in zip(d["sure"], rereads, strict=True)
                     if rules.readable(w)]
            found = [(w, f) for w, f in found if f is not None]
            kind = name.split()[0]
            v[(entry["set"], kind)].append(bool(found))
            if kind == "planted":
                i = int(name.split()[1])
                v[(entry["set"], f"planted {_group(entry, entry['boxes'][i])}")].append(
                    bool(found))
                v[(entry["set"], "planted, left by the product" if i in d["left by the product"]
                   else "planted, covered by the product")].append(bool(found))
            if verbose and ((kind == "planted") != bool(found)):
                where = [[round(x) for x in f.box] for _, f in found]
                print(f"  {'missed' if kind == 'planted' else 'FAIL'} ({name}): "
                      f"{entry['set']}/{entry['file']} {where}")
        v[(entry["set"], "correct, no original")].append(
            any(alone.readable(w) for w in d["alone"]))
    return v


def run(chosen: list[dict], rules: Rules, alone: Rules, cache: Cache, verbose: bool) -> dict:
    """The audit's text verdicts of every output, and seconds per photo: the text check of
    the correct output with its original, timed afresh on every TIMED-th photo."""
    data, seconds = [], []
    for n, entry in enumerate(chosen):
        d = collect(entry, cache)
        data.append(d)
        if n % TIMED == 0:
            start = time.perf_counter()
            text_left(d["correct"], d["rgb"], rules)
            seconds.append(time.perf_counter() - start)
        d.pop("rgb"), d.pop("correct")
    return {"verdicts": verdicts(data, rules, alone, verbose), "seconds": seconds}


def _group(entry: dict, box: dict) -> str:
    if entry["set"] == "text2":
        return "curved" if box.get("curved") else "straight"
    return "plate" if box["kind"] == "plate" else "scene text"


def share(flags: list[bool]) -> str:
    return f"{np.mean(flags):.2f} ({int(np.sum(flags))}/{len(flags)})" if flags else "–"


def print_table(title: str, result: dict) -> None:
    v = result["verdicts"]
    print(f"\n### {title}\n")
    print("| outputs | text/ | text2/ |")
    print("|---|---:|---:|")
    rows = [("(a) correct: PASS", "correct", True),
            ("(b) planted: FAIL", "planted", False),
            ("(b) planted plates: FAIL", "planted plate", False),
            ("(b) planted scene text: FAIL", "planted scene text", False),
            ("(b) planted straight: FAIL", "planted straight", False),
            ("(b) planted curved: FAIL", "planted curved", False),
            ("(b) planted, the product had covered it: FAIL", "planted, covered by the product",
             False),
            ("(b) planted, the product had left it: FAIL", "planted, left by the product",
             False),
            ("(c) product's output: FAIL", "product", False),
            ("correct, no original: PASS", "correct, no original", True)]
    for label, key, passing in rows:
        cells = []
        for name in SETS:
            flags = v.get((name, key), [])
            cells.append(share([not f for f in flags] if passing else flags))
        if any(c != "–" for c in cells):
            print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"| seconds per photo (mean, max) | {np.mean(result['seconds']):.1f}, "
          f"{np.max(result['seconds']):.1f} | |")


def demo(rules: Rules, alone: Rules) -> None:
    rgb, outs = astronaut()
    print("\n### The demo's astronaut (`--cover text`)\n")
    print("| output | original | verdict | words left (box, length, reader) | seconds |")
    print("|---|---|---|---|---:|")
    for name, out in outs.items():
        for given in (True, False):
            start = time.perf_counter()
            found = text_left(out, rgb, rules) if given else text_left(out, None, alone)
            took = time.perf_counter() - start
            label = {"product": "as blindspot makes it", "pasted": "patch pasted back"}[name]
            where = "; ".join(f"{[round(v) for v in w.box]} {w.chars} {w.reader}"
                              for w, _ in found)
            print(f"| {label} | {'given' if given else 'not given'} | "
                  f"{'FAIL' if found else 'PASS'} | {where or '–'} | {took:.1f} |")


# ---------------------------------------------------------------------------- tuning


def tune(chosen: list[dict], cache: Cache) -> None:
    """Shares of (a) PASS, (b) and (c) FAIL over a grid of thresholds, from one loose
    reading (the same thresholds with the original and without)."""
    data = []
    for entry in chosen:
        d = collect(entry, cache)
        d.pop("rgb"), d.pop("correct")
        data.append(d)
    grid = itertools.product((0.5, 0.6, 0.7, 0.8, 0.9), (0.5, 0.6, 0.7, 0.8, 0.9),
                             (0.3, 0.4, 0.5, 0.6))
    print("\n### tune: thresholds (PP-OCR, Tesseract, edit distance)\n")
    print("| pp-ocr | tesseract | similar | (a) PASS text/ | text2/ | (b) FAIL text/ | text2/ "
          "| (b) left by the product | (c) FAIL text/ | text2/ | (a) no original, PASS text/ "
          "| text2/ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p, t, sim in grid:
        rules = replace(LOOSE, pp_ocr=p, tesseract=t, similar=sim)
        v = verdicts(data, rules, rules)
        left = v[("text", "planted, left by the product")] + \
            v[("text2", "planted, left by the product")]
        cells = [share([not f for f in v[(s, "correct")]]) for s in SETS]
        cells += [share(v[(s, "planted")]) for s in SETS] + [share(left)]
        cells += [share(v[(s, "product")]) for s in SETS]
        cells += [share([not f for f in v[(s, "correct, no original")]]) for s in SETS]
        print(f"| {p} | {t} | {sim} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--tune", action="store_true", help="the threshold grid, tune part")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the readings here between runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = parser.parse_args()
    cache = Cache(args.cache)
    print(f"readers: {'Tesseract ' + tess.version() if tess.available() else 'no Tesseract'}")
    if args.tune:
        tune(entries(("tune",)), cache)
        return
    settings = AuditSettings()
    rules, alone = text_rules(settings, True), text_rules(settings, False)
    print(f"rules with the original: {rules}\nwithout: {alone}")
    for name in (PARTS if args.part == "all" else (args.part,)):
        chosen = entries((name,))
        print_table(f"{name} ({len(chosen)} photos)",
                    run(chosen, rules, alone, cache, args.verbose))
    demo(rules, alone)


if __name__ == "__main__":
    main()
