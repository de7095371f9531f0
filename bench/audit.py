"""Audit benchmark: `blindspot audit` measured as a classifier, and its speed on video.

On the dev data (default `../shared/data` relative to the repository root, never copied: every
output lives in a temporary folder that is deleted at the end), each file is anonymized with
blindspot's CURRENT defaults through the Python API (`blindspot.anonymize_file(src, out,
blindspot.Options())`, so a rerun re-measures whatever the detector does then), and audited with
its original (`blindspot.audit_file(out, src)`, default settings). Four outputs per file:

- default: `Options()`. Its FAIL rate must be 0. Every FAIL is listed with its findings
  (`--show DIR` writes the OUTPUT frame with the finding boxed, to look at): a FAIL whose finding
  is a real face that blindspot left uncovered is a TRUE fail (the audit is right); the ones
  checked by eye are in `TRUE_FAILS`, with what was seen. Any other FAIL counts as false.
- untouched: a byte copy of the original. Its FAIL rate must be 100 % ("findable": files where
  the audit finds a face at all, since a face of the original left as it was is a leak too).
- blur, mosaic: `Options(mode="blur")`, `Options(mode="mosaic")`: the rate is reported.

FAIL here means the pixels fail (a leak or a re-identification match); a metadata finding alone
is counted apart (the originals carry EXIF; blindspot's outputs carry none).

Data: WIDER FACE validation subset (`detection/wider_val_subset`, annotations.json order;
`--wider N`: the first N), dlib's test photos (`detection/dlib_faces/images`), LFW (the first
photo of each of the first `--lfw N` people, sorted by name), and the clips of
`video/videos.tsv` (`--videos N`: the first N). Per clip the anonymizing and the audit (of the
default output) are timed back to back in this process, models loaded beforehand, and their
ratio printed (the target: at most 2).

    python bench/audit.py [--data DIR] [--wider N] [--lfw N] [--videos N] [--no-dlib]
                          [--modes default untouched blur mosaic] [--show DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import blindspot
from blindspot.audit.attack import AuditSettings, _frames

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "../shared/data"
MODES = {"default": blindspot.Options(), "untouched": None,
         "blur": blindspot.Options(mode="blur"), "mosaic": blindspot.Options(mode="mosaic")}
# FAILs of default outputs looked at by eye (`--show`): the finding is a real face that blindspot
# did not cover, so the audit was right. File name -> what was seen.
TRUE_FAILS: dict[str, str] = {}


@dataclass
class Row:
    """The audits of one set (WIDER, dlib, LFW, videos) in one mode."""

    files: int = 0
    findable: int = 0  # untouched copies where the audit finds a face (a leak, unchanged included)
    fail: int = 0  # pixels FAIL: a leak or a re-identification match
    true_fail: int = 0  # of those, FAILs of default outputs inspected as real uncovered faces
    reid_fail: int = 0  # files with a re-identification match
    failed: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--wider", type=int, default=None, metavar="N",
                        help="the first N WIDER images (default all)")
    parser.add_argument("--lfw", type=int, default=40, metavar="N",
                        help="one photo each of the first N LFW people (default 40)")
    parser.add_argument("--videos", type=int, default=None, metavar="N",
                        help="the first N clips (default all)")
    parser.add_argument("--no-dlib", action="store_true", help="skip dlib's test photos")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--show", type=Path, metavar="DIR",
                        help="write each FAILing default output frame, findings boxed")
    args = parser.parse_args()
    sets = _sets(args)
    _warm_up(sets)
    rows: dict[tuple[str, str], Row] = {}
    timings = []
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-audit-") as tmp:
        for set_name, files in sets.items():
            for src in files:
                for mode in args.modes:
                    row = rows.setdefault((set_name, mode), Row())
                    timing = _one(src, mode, Path(tmp), row, set_name, args.show)
                    if timing is not None and set_name == "videos" and mode == "default":
                        timings.append(timing)
                print(f"  {set_name} {src.name}: done", file=sys.stderr, flush=True)
    _print_tables(rows, timings, args)
    return 0


def _sets(args: argparse.Namespace) -> dict[str, list[Path]]:
    data = args.data
    wider = data / "detection/wider_val_subset"
    entries = json.loads((wider / "annotations.json").read_text())
    sets = {"WIDER": [wider / e["file"] for e in entries][:args.wider]}
    if not args.no_dlib:
        sets["dlib"] = sorted((data / "detection/dlib_faces/images").glob("*.jpg"))
    people = sorted(p for p in (data / "identity/lfw").iterdir() if p.is_dir())[:args.lfw]
    sets["LFW"] = [sorted(p.glob("*.jpg"))[0] for p in people]
    with open(data / "video/videos.tsv", newline="") as f:
        clips = [data / "video" / r["file"] for r in csv.DictReader(f, delimiter="\t")]
    sets["videos"] = clips[:args.videos]
    return {k: v for k, v in sets.items() if v}


def _warm_up(sets: dict[str, list[Path]]) -> None:
    """Load the models of both sides before anything is timed."""
    src = next(iter(sets.values()))[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"warm{src.suffix}"
        blindspot.anonymize_file(src, out)
        blindspot.audit_file(out, src)


def _one(src: Path, mode: str, tmp: Path, row: Row, set_name: str, show: Path | None
         ) -> tuple[str, int, float, float, int, int] | None:
    """Anonymize `src` in `mode` (or copy it), audit the result; the clip's timing."""
    suffix = ".mp4" if src.suffix.lower() == ".avi" and mode != "untouched" else src.suffix
    out = tmp / f"{mode}-{src.stem}{suffix}"
    started = time.perf_counter()
    if MODES[mode] is None:
        shutil.copyfile(src, out)
    else:
        blindspot.anonymize_file(src, out, MODES[mode])
    anonymized = time.perf_counter() - started
    started = time.perf_counter()
    result = blindspot.audit_file(out, src)
    audited = time.perf_counter() - started
    row.files += 1
    pixels_fail = bool(result.leaks or result.matches)
    if mode == "untouched":
        row.findable += bool(result.leaks)
    row.fail += pixels_fail
    row.reid_fail += bool(result.matches)
    if pixels_fail and mode == "default":
        row.true_fail += src.name in TRUE_FAILS
        row.failed.append(src.name)
        _report_fail(src, result)
        if show is not None:
            _show(out, result, show / f"{set_name}-{src.stem}")
    out.unlink()
    if set_name != "videos" or mode != "default":
        return None
    return (src.name, result.frames, anonymized, audited, result.frames_checked,
            result.thorough_checked)


def _report_fail(src: Path, result: blindspot.AuditResult) -> None:
    print(f"FAIL (default output) {src.name}"
          + (f": TRUE fail ({TRUE_FAILS[src.name]})" if src.name in TRUE_FAILS else ""),
          file=sys.stderr)
    for leak in result.leaks[:10]:
        print(f"    leak frame {leak.frame} {leak.detector} {leak.score:.2f} "
              f"box {[round(v) for v in leak.box]}", file=sys.stderr)
    for m in result.matches[:10]:
        print(f"    re-id frame {m.frame} {m.detector} distance {m.distance:.3f} impostor "
              f"{m.impostor:.3f} box {[round(v) for v in m.box]}", file=sys.stderr)


def _show(out: Path, result: blindspot.AuditResult, stem: Path) -> None:
    """The output frames with findings, boxed (the OUTPUT only, never the original)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    frames = {f.frame for f in result.leaks} | {m.frame for m in result.matches}
    for index, frame in enumerate(_frames(out, AuditSettings())):
        if index not in frames:
            continue
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        boxes = [(f.box, f"{f.detector} {f.score:.2f}") for f in result.leaks
                 if f.frame == index]
        boxes += [(m.box, f"re-id {m.distance:.2f}") for m in result.matches if m.frame == index]
        for (x, y, w, h), label in boxes:
            cv2.rectangle(bgr, (round(x), round(y)), (round(x + w), round(y + h)), (255, 0, 255))
            cv2.putText(bgr, label, (round(x), max(10, round(y) - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (255, 0, 255))
        cv2.imwrite(f"{stem}-{index}.png", bgr)


def _rate(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f} %)" if d else "–"


def _print_tables(rows: dict[tuple[str, str], Row], timings: list, args) -> None:
    modes = args.modes
    print("\n| data | files | " + " | ".join(_header(m) for m in modes) + " |")
    print("|---|---:|" + "---:|" * len(modes))
    sets = list(dict.fromkeys(s for s, _ in rows))
    total = {m: Row() for m in modes}
    for set_name in [*sets, "all"]:
        cells = []
        for mode in modes:
            row = total[mode] if set_name == "all" else rows[(set_name, mode)]
            if set_name != "all":
                t = total[mode]
                for name in ("files", "findable", "fail", "true_fail", "reid_fail"):
                    setattr(t, name, getattr(t, name) + getattr(row, name))
            cells.append(_cell(row, mode))
        files = next(total[m].files if set_name == "all" else rows[(set_name, m)].files
                     for m in modes)
        print(f"| {set_name} | {files} | " + " | ".join(cells) + " |")
    failed = [name for (_, mode), row in rows.items() if mode == "default" for name in row.failed]
    if failed:
        print(f"\nDefault outputs that FAIL: {', '.join(failed)}")
    if timings:
        print("\n| clip | frames | anonymize s | audit s | ratio | frames checked (thorough) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, frames, anon, audit, checked, thorough in timings:
            print(f"| {name} | {frames} | {anon:.1f} | {audit:.1f} | {audit / anon:.2f} | "
                  f"{checked} ({thorough}) |")
        ratios = np.array([t[3] / t[2] for t in timings])
        print(f"\nratio audit / anonymize: max {ratios.max():.2f}, mean {ratios.mean():.2f}")
    print(f"\ncommand: python bench/audit.py {' '.join(sys.argv[1:])}".rstrip())


def _header(mode: str) -> str:
    return {"default": "default: FAIL (true, inspected)", "untouched": "untouched: FAIL",
            "blur": "blur: FAIL (re-id)", "mosaic": "mosaic: FAIL (re-id)"}[mode]


def _cell(row: Row, mode: str) -> str:
    if mode == "untouched":
        return f"{_rate(row.fail, row.files)} (findable {row.findable}, re-id {row.reid_fail})"
    if mode == "default":
        false = row.fail - row.true_fail
        return f"{_rate(row.fail, row.files)} ({row.true_fail} true, {false} false)"
    return f"{_rate(row.fail, row.files)} (re-id {row.reid_fail})"


if __name__ == "__main__":
    sys.exit(main())
