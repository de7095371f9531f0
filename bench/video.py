"""Video benchmark: speed, memory and leaked frames of blindspot against a floor and deface.

For each clip listed in `videos.tsv` of the folder (default `../shared/data/video` relative to
the repository root), in one run:

- blindspot s: `blindspot.anonymize_file(clip, out)` with default options, run in a fresh
  child process (the time of that call: model load included, interpreter start and imports not).
- floor s: one decode + x264 encode of the same clip, nothing else: `video_writer.transcode` with a
  `process` that returns the decoded frame unchanged, so the decoder, the RGB conversions and
  the encoder settings (`X264_PRESET`, CRF `Options().crf`, BT.709) are blindspot's own.
  blindspot decodes twice (detection pass, render pass) and encodes once.
- deface s: `deface CLIP -o OUT --execution-provider CPUExecutionProvider` as a subprocess,
  wall time (its interpreter start and imports included: it is a command, there is no call to
  time). Skipped when `deface` is not on PATH. Speed-up = deface s / blindspot s.
- peak MB: the child's peak resident set (`ru_maxrss`) while it ran blindspot.
- leaked frames: frames where a face found by the reference pass is not covered. The reference
  pass is blindspot's photo detector (`FaceDetector` with the default multi-scale settings) at
  the stricter threshold `REFERENCE_THRESHOLD` (0.3), on every frame of the original clip at full
  resolution. A reference face is covered when at least `COVERED_SHARE` (90 %) of the pixels of
  its box lie in `coverage_mask` of the boxes blindspot covered in that frame (the
  `FileResult.detections` of the timed run, which is what `blindspot.detect_file` returns) with
  `Options().mask_scale`. Reference boxes are cached in `$TMPDIR/blindspot-bench-video`, keyed by
  the clip and the reference settings.
- area covered: the mean share of each frame's area those covered boxes hide (with the same
  `mask_scale`): the price of the protection, since covering more of every frame, longer,
  leaks less. Total: weighted by frames.

Then a memory-flatness line: one clip (`--flat-clip`) and the same clip looped 4× (re-encoded
with PyAV, cached next to the reference boxes) → the ratio of blindspot's peak memory on the two.

`--cover KINDS` (e.g. plates) runs each clip a second time with that cover and prints its time
against the default run's (wall time, and CPU seconds of the call, steadier on a shared
machine), and the boxes it covered per kind. When KINDS names people, a person
reference pass runs too: `PeopleDetector` with the photo settings (whole frame and tiles) at the
confident threshold `REFERENCE_PERSON_THRESHOLD` (0.5), on every frame at full resolution,
cached like the face reference (keyed by the clip, the settings and the people model's
SHA-256). "people leaked frames" counts the frames where a reference person's box is less than
`COVERED_SHARE` covered by `coverage_mask` of all the boxes the --cover run covered there.

    python bench/video.py [FOLDER] [--limit N] [--flat-clip NAME] [--no-deface] [--cover KINDS]
                          [-v]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import av
import numpy as np

from blindspot.detect.faces import MODEL_SHA256, DetectorSettings, FaceDetector
from blindspot.detect.people import MODEL_SHA256 as PEOPLE_MODEL_SHA256
from blindspot.detect.people import PeopleDetector, PeopleSettings
from blindspot.detections import Detections
from blindspot.media.video_reader import read_frames
from blindspot.media.video_writer import output_extension, transcode
from blindspot.options import Options
from blindspot.redact import coverage_mask

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "../shared/data/video"
CACHE = Path(tempfile.gettempdir()) / "blindspot-bench-video"
REFERENCE_THRESHOLD = 0.3
# The person reference counts only people the detector is sure of (0.5, where the product too
# calls a person sure, `detections.PERSON_SCORE`): at the product's own 0.1 the reference would
# also hold the weak boxes of things that are not people (on the dev clips: a microphone stand,
# a chair back in a blurred pan), and a leak would no longer mean an uncovered person.
REFERENCE_PERSON_THRESHOLD = 0.5
COVERED_SHARE = 0.9
FLAT_CLIP = "mmaction2__demo_demo_skeleton.mp4"  # 1080p: the most memory per frame
LOOPS = 4
MAX_FLAT_RATIO = 1.2

# Runs in a fresh interpreter: anonymize one clip, report time and peak memory, save the boxes.
_CHILD = """
import json, resource, sys, time
import numpy as np
import blindspot
clip, out, boxes_path, cover = sys.argv[1:5]
start, start_cpu = time.perf_counter(), time.process_time()
result = blindspot.anonymize_file(clip, out, blindspot.Options(cover=tuple(cover.split(","))))
seconds, call_cpu = time.perf_counter() - start, time.process_time() - start_cpu
dets = result.detections
np.savez(boxes_path, boxes=np.concatenate([d.boxes.reshape(-1, 4) for d in dets]),
         kinds=np.concatenate([d.kinds for d in dets]), counts=np.array([len(d) for d in dets]))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "frames": result.frames, "faces": result.faces,
                  "uncertain": result.uncertain,
                  "cpu": usage.ru_utime + usage.ru_stime, "call_cpu": call_cpu,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@dataclass
class Row:
    clip: str
    frames: int
    blindspot: float
    floor: float
    deface: float | None
    peak_mb: float
    leaked: int
    blindspot_cpu: float = 0.0  # CPU seconds of the whole child (imports included)
    deface_cpu: float | None = None
    faces: str = ""  # what the one-line summary counts: "faces (+uncertain)"
    area: float = 0.0  # mean share of the frame covered (what covering costs the viewer)


def clips_in(folder: Path) -> list[Path]:
    with open(folder / "videos.tsv", newline="") as f:
        return [folder / r["file"] for r in csv.DictReader(f, delimiter="\t")]


def run_blindspot(clip: Path, workdir: Path, cover: str = "faces"
                  ) -> tuple[float, int, float, list[Detections], float, str, float]:
    """(seconds, frames, peak MB, per-frame covered boxes, CPU seconds, faces counted as
    "N (+U)" with U the uncertain tracks, CPU seconds of the anonymize_file call alone) of one
    anonymize_file in a child process."""
    out = workdir / f"{clip.stem}.blindspot{output_extension(clip.suffix)}"
    out.unlink(missing_ok=True)
    boxes_path = workdir / f"{clip.stem}.boxes.npz"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(clip), str(out), str(boxes_path),
                           cover], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"blindspot failed on {clip.name}:\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(boxes_path) as data:
        boxes = _split(data["boxes"], data["kinds"], data["counts"])
    faces = f"{report['faces']}" + (f" (+{report['uncertain']})" if report["uncertain"] else "")
    return (report["seconds"], report["frames"], report["peak_kib"] / 1024, boxes, report["cpu"],
            faces, report["call_cpu"])


def _split(boxes: np.ndarray, kinds: np.ndarray, counts: np.ndarray) -> list[Detections]:
    cuts = np.cumsum(counts)[:-1]
    return [Detections(b.reshape(-1, 4), np.ones(len(b), np.float32), kinds=k)
            for b, k in zip(np.split(boxes, cuts), np.split(kinds, cuts), strict=True)]


def floor_seconds(clip: Path, workdir: Path) -> float:
    """One decode + encode of `clip` through blindspot's own transcode, frames unchanged."""
    suffix = output_extension(clip.suffix)
    out = workdir / f"{clip.stem}.floor{suffix}"
    start = time.perf_counter()
    with open(out, "wb") as f:
        transcode(clip, f, suffix, lambda frame: frame.rgb, crf=Options().crf)
    return time.perf_counter() - start


def deface_seconds(clip: Path, workdir: Path) -> tuple[float | None, float | None]:
    """(wall seconds, CPU seconds) of deface on `clip`; (None, None) without deface."""
    exe = shutil.which("deface")
    if exe is None:
        return None, None
    out = workdir / f"{clip.stem}.deface.mp4"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([exe, str(clip), "-o", str(out), "--execution-provider",
                    "CPUExecutionProvider"], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, cpu


def reference_settings() -> DetectorSettings:
    """The photo settings at the confident threshold, in float32: the same reference on every
    machine, whatever precision blindspot runs in there."""
    return DetectorSettings(threshold=REFERENCE_THRESHOLD, precision="f32")


def person_reference_settings() -> PeopleSettings:
    """The photo settings (whole frame and tiles), at the confident threshold."""
    return PeopleSettings(threshold=REFERENCE_PERSON_THRESHOLD)


def _found_by(settings: DetectorSettings | PeopleSettings) -> str:
    """`settings` as text, less what changes only the speed (where and on how many threads)."""
    named = ", ".join(f"{f.name}={getattr(settings, f.name)!r}" for f in fields(settings)
                      if f.name not in ("device", "threads"))
    return f"{type(settings).__name__}({named})"


def reference_cache(clip: Path, people: bool = False) -> Path:
    """Where the reference boxes of `clip` (faces, or with `people` persons) are cached: keyed
    by the file, the settings and the model."""
    stat = clip.stat()
    settings = person_reference_settings() if people else reference_settings()
    model = PEOPLE_MODEL_SHA256 if people else MODEL_SHA256
    key = hashlib.sha256(f"{clip.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|"
                         f"{_found_by(settings)}|{model}".encode()).hexdigest()[:16]
    return CACHE / f"{clip.stem}.{'people-ref' if people else 'ref'}-{key}.npz"


def reference_boxes(clip: Path, verbose: bool = False, people: bool = False
                    ) -> tuple[list[np.ndarray], int, int]:
    """The reference pass's boxes (faces, or with `people` persons) of every frame of `clip`,
    and the frame size (cached)."""
    cached = reference_cache(clip, people)
    if cached.exists():
        with np.load(cached) as data:
            parts = np.split(data["boxes"], np.cumsum(data["counts"])[:-1])
            return [p.reshape(-1, 4) for p in parts], int(data["width"]), int(data["height"])
    detector = (PeopleDetector(person_reference_settings()) if people
                else FaceDetector(reference_settings()))
    found, width, height = [], 0, 0
    start = time.perf_counter()
    for frame in read_frames(clip):
        height, width = frame.rgb.shape[:2]
        found.append(detector.detect(frame.rgb).boxes.reshape(-1, 4))
    if verbose:
        print(f"{'person' if people else 'face'} reference pass {clip.name}: {len(found)} "
              f"frames in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, boxes=np.concatenate(found) if found else np.zeros((0, 4)),
             counts=np.array([len(b) for b in found]), width=width, height=height)
    tmp.replace(cached)
    return found, width, height


def leaks(clip: Path, covered: list[Detections], mask_scale: float | None = None,
          people: bool = False) -> list[tuple[int, np.ndarray, float]]:
    """(frame, reference box, covered share) for every reference face (with `people`: person)
    less than `COVERED_SHARE` covered by the boxes `covered` of its frame."""
    mask_scale = Options().mask_scale if mask_scale is None else mask_scale
    reference, width, height = reference_boxes(clip, people=people)
    if len(reference) != len(covered):
        raise RuntimeError(f"{clip.name}: reference pass saw {len(reference)} frames, "
                           f"blindspot {len(covered)}")
    found = []
    for index, (ref, dets) in enumerate(zip(reference, covered, strict=True)):
        if not len(ref):
            continue
        mask = coverage_mask(dets, mask_scale, width, height)
        for box in ref:
            x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
            x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
            if x1 <= x0 or y1 <= y0:
                continue
            share = float(mask[y0:y1, x0:x1].mean())
            if share < COVERED_SHARE:
                found.append((index, box, share))
    return found


def covered_area(clip: Path, covered: list[Detections], mask_scale: float | None = None
                 ) -> float:
    """The mean share of the frame's area that the boxes `covered` cover (with `mask_scale`):
    the cost side of the leaks, since covering more of every frame leaks less."""
    mask_scale = Options().mask_scale if mask_scale is None else mask_scale
    _, width, height = reference_boxes(clip)
    shares = [coverage_mask(dets, mask_scale, width, height).mean() if len(dets) else 0.0
              for dets in covered]
    return float(np.mean(shares)) if shares else 0.0


SECOND_OPINION_SCORE = 50  # yuface scores 0–100


def second_opinion(clip: Path, missed: list[tuple[int, np.ndarray, float]],
                   crops: Path | None = None) -> int | None:
    """How many leaked reference boxes a second, independent detector (libfacedetection, via
    `yuface`, on a crop twice the box) also sees a face in; None when yuface is not installed.
    With `crops`, each leaked box is also saved there as a PNG crop, to look at."""
    try:
        import yuface
    except ImportError:
        return None
    import cv2
    wanted: dict[int, list[np.ndarray]] = {}
    for index, box, _ in missed:
        wanted.setdefault(index, []).append(box)
    confirmed = 0
    for frame in read_frames(clip):
        for box in wanted.get(frame.index, []):
            h, w = frame.shape[:2]
            side = max(box[2] - box[0], box[3] - box[1])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            x0, y0 = max(0, int(cx - side)), max(0, int(cy - side))
            x1, y1 = min(w, int(cx + side)), min(h, int(cy + side))
            bgr = np.ascontiguousarray(frame.rgb[y0:y1, x0:x1, ::-1])
            rows = yuface.c_detect(bgr)
            if any(r[0] >= SECOND_OPINION_SCORE for r in rows):
                confirmed += 1
            if crops is not None:
                crops.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(crops / f"{clip.stem}.{frame.index:05d}.{x0}-{y0}.png"), bgr)
    return confirmed


def loop_clip(clip: Path, times: int) -> Path:
    """`clip` played `times` times in a row, re-encoded to MP4 (cached)."""
    out = CACHE / f"{clip.stem}.x{times}.mp4"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(clip)) as first:
        src = first.streams.video[0]
        rate = src.average_rate or src.guessed_rate or 25
        width, height = src.codec_context.width, src.codec_context.height
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18",
                                                                     "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(times):
            with av.open(str(clip)) as source:
                for frame in source.decode(video=0):
                    picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"),
                                                         format="rgb24")
                    for packet in stream.encode(picture):
                        container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    tmp.replace(out)
    return out


def table(rows: list[Row]) -> str:
    lines = ["| clip | frames | blindspot s | floor s | deface s | speed-up vs deface | "
             "peak MB | leaked frames | area covered | faces (+uncertain) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def line(name: str, frames: int, b: float, fl: float, d: float | None, peak: float,
             leaked: int, area: float, faces: str = "") -> str:
        dtext = f"{d:.2f}" if d is not None else "–"
        speed = f"{d / b:.2f}×" if d is not None else "–"
        return (f"| {name} | {frames} | {b:.2f} | {fl:.2f} | {dtext} | {speed} | {peak:.0f} | "
                f"{leaked} | {area:.1%} | {faces} |")

    for r in rows:
        lines.append(line(r.clip, r.frames, r.blindspot, r.floor, r.deface, r.peak_mb, r.leaked,
                          r.area, r.faces))
    if rows:
        dtotal = (sum(r.deface for r in rows if r.deface is not None)
                  if all(r.deface is not None for r in rows) else None)
        lines.append(line("**total**", sum(r.frames for r in rows),
                          sum(r.blindspot for r in rows), sum(r.floor for r in rows), dtotal,
                          max(r.peak_mb for r in rows), sum(r.leaked for r in rows),
                          sum(r.area * r.frames for r in rows) / sum(r.frames for r in rows)))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--limit", type=int, default=None, help="the first N clips only")
    parser.add_argument("--flat-clip", default=FLAT_CLIP,
                        help=f"the clip looped {LOOPS}× for the memory line ('' to skip)")
    parser.add_argument("--no-deface", action="store_true", help="do not run deface")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every leak")
    parser.add_argument("--cover", metavar="KINDS",
                        help="also time each clip with this --cover (e.g. plates): the cost "
                             "of looking for more than faces, as a ratio to the default run")
    parser.add_argument("--leak-crops", type=Path, metavar="DIR",
                        help="save a crop of every leaked reference box here, to look at")
    args = parser.parse_args()

    clips = clips_in(args.folder)[:args.limit]
    rows: list[Row] = []
    peaks: dict[str, float] = {}
    opinions: list[int | None] = []
    # (clip, default s, --cover s, faces, boxes, people leaked frames, default and --cover CPU s)
    covers: list[tuple[str, float, float, str, list[Detections], int | None, float, float]] = []
    people = bool(args.cover) and "person" in Options(
        cover=tuple(args.cover.split(","))).covered_kinds()
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-") as tmp:
        workdir = Path(tmp)
        for clip in clips:
            reference_boxes(clip, verbose=True)  # before timing: the first run fills the cache
            if people:
                reference_boxes(clip, verbose=True, people=True)
            seconds, frames, peak, covered, cpu, faces, call_cpu = run_blindspot(clip, workdir)
            peaks[clip.name] = peak
            floor = floor_seconds(clip, workdir)
            deface, deface_cpu = (None, None) if args.no_deface else deface_seconds(clip, workdir)
            missed = leaks(clip, covered)
            leaked = len({index for index, _, _ in missed})
            opinions.append(second_opinion(clip, missed, args.leak_crops))
            rows.append(Row(clip.name, frames, seconds, floor, deface, peak, leaked, cpu,
                            deface_cpu, faces, covered_area(clip, covered)))
            if args.cover:
                extra = run_blindspot(clip, workdir, args.cover)
                people_missed = leaks(clip, extra[3], people=True) if people else []
                covers.append((clip.name, seconds, extra[0], extra[5], extra[3],
                               len({index for index, _, _ in people_missed}) if people
                               else None, call_cpu, extra[6]))
                if args.verbose:
                    for index, box, share in people_missed:
                        w, h = box[2] - box[0], box[3] - box[1]
                        print(f"  person leak {clip.name} frame {index}: box "
                              f"{np.round(box).astype(int).tolist()} ({w:.0f}×{h:.0f} px) "
                              f"{share:.0%} covered", file=sys.stderr)
            if args.verbose:
                for index, box, share in missed:
                    side = max(box[2] - box[0], box[3] - box[1])
                    print(f"  leak {clip.name} frame {index}: box "
                          f"{np.round(box).astype(int).tolist()} ({side:.0f} px) "
                          f"{share:.0%} covered", file=sys.stderr)
            workdir.joinpath(f"{clip.stem}.deface.mp4").unlink(missing_ok=True)
        print(f"Reference: FaceDetector multi-scale defaults at threshold {REFERENCE_THRESHOLD}"
              f", every frame; a face is covered when ≥ {COVERED_SHARE:.0%} of its box is "
              f"masked (mask_scale {Options().mask_scale}).\n")
        print(table(rows))
        if covers:
            print(f"\n--cover {args.cover}: seconds against the default run of the same clip "
                  "(other kinds are looked for on the detection cadence); CPU ratio: the same "
                  "for the CPU seconds of the anonymize_file call (all its threads; steadier "
                  "than wall time on a shared machine)")
            if people:
                print(f"Person reference: PeopleDetector photo settings (whole frame + tiles) at "
                      f"threshold {REFERENCE_PERSON_THRESHOLD}, every frame; a person is covered "
                      f"when ≥ {COVERED_SHARE:.0%} of its box is masked by the run's boxes.")
            leak_head = " people leaked frames |" if people else ""
            print(f"\n| clip | default s | --cover s | ratio | CPU ratio | faces | boxes per kind "
                  f"|{leak_head}")
            print("|---|---:|---:|---:|---:|---:|---|" + ("---:|" if people else ""))
            for name, base, extra_s, faces_text, dets, people_leaked, base_cpu, extra_cpu \
                    in covers:
                kinds: dict[str, int] = {}
                for d in dets:
                    for k in d.kind_names():
                        kinds[k] = kinds.get(k, 0) + 1
                leak_cell = f" {people_leaked} |" if people else ""
                print(f"| {name} | {base:.2f} | {extra_s:.2f} | {extra_s / base:.2f}× | "
                      f"{extra_cpu / base_cpu:.2f}× | {faces_text} | {kinds} |{leak_cell}")
            base_total = sum(c[1] for c in covers)
            extra_total = sum(c[2] for c in covers)
            cpu_ratio = sum(c[7] for c in covers) / sum(c[6] for c in covers)
            leak_total = f" {sum(c[5] or 0 for c in covers)} |" if people else ""
            print(f"| **total** | {base_total:.2f} | {extra_total:.2f} | "
                  f"{extra_total / base_total:.2f}× | {cpu_ratio:.2f}× | | |{leak_total}")
        if rows and all(o is not None for o in opinions):
            boxes = sum(r.leaked for r in rows)
            print(f"\nLeaked reference boxes that a second detector (libfacedetection via yuface, "
                  f"score ≥ {SECOND_OPINION_SCORE}, on a crop twice the box) also calls a face: "
                  f"{sum(o or 0 for o in opinions)} (in {boxes} leaked frames; "
                  f"--leak-crops DIR saves them to look at)")
        if rows and all(r.deface_cpu is not None for r in rows):
            bcpu = sum(r.blindspot_cpu for r in rows)
            dcpu = sum(r.deface_cpu or 0.0 for r in rows)
            print(f"\nCPU seconds (whole processes, imports included; steadier than wall time "
                  f"on a shared machine): blindspot {bcpu:.1f}, deface {dcpu:.1f}, "
                  f"ratio {dcpu / bcpu:.2f}×")
        if args.flat_clip:
            clip = args.folder / args.flat_clip
            one = peaks.get(clip.name)
            if one is None:
                one = run_blindspot(clip, workdir)[2]
            looped = run_blindspot(loop_clip(clip, LOOPS), workdir)
            ratio = looped[2] / one
            verdict = "flat" if ratio <= MAX_FLAT_RATIO else "NOT flat"
            print(f"\nMemory: {clip.name} 1× peak {one:.0f} MB, looped {LOOPS}× "
                  f"({looped[1]} frames) peak {looped[2]:.0f} MB, ratio {ratio:.2f} "
                  f"({verdict}; limit {MAX_FLAT_RATIO})")
        print(f"\nMachine: {os.cpu_count()} CPUs, load average at the end "
              f"{os.getloadavg()[0]:.1f} (other jobs share them), PyAV {av.__version__}")


if __name__ == "__main__":
    main()
