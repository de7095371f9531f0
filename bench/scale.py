"""Scale benchmark: throughput against the number of workers, Ray against local workers.

On the dev photo set (`detection/wider_val_subset`: `images_fullres` and
`images_416x416_stretched`, 104 photos) and the dev video set (`video/`, 7 clips), read in place
under `../shared/data` (never copied), each of these runs the `blindspot` command as a user
would, one after the other, in one run of this script:

- `1 worker × 1 thread`: `--workers 1 --threads 1` (the baseline: one process, ONNX Runtime,
  OpenCV, the video decoder and x264 held to one thread each);
- `1 worker × all threads`: `--workers 1` (ONNX Runtime's own default: one thread per core);
- `default`: no option (`--workers` = the cores, each worker `cores // workers` threads);
- `Ray, local cluster`: `blindspot cluster … --address local --workers 2` (a fresh local Ray
  cluster of 2 CPUs; its start, about 5–10 s, is in the time).

Per run: wall seconds, CPU seconds (user + system of the command and the worker processes it
waited for; Ray's daemons and workers are not its children, so none for Ray), files/s, frames/s,
the speed-up against the baseline, and whether every file's boxes (from `--report`) equal the
baseline's within 1 px. For video, the cost per hour of video: CPU seconds × 3600 / the clips'
total duration.

    python bench/scale.py [--data ../shared/data] [--sets photos videos] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "../shared/data"
TOLERANCE = 1.0  # px


@dataclass
class Run:
    name: str
    args: list[str]
    wall: float = 0.0
    cpu: float | None = None
    files: int = 0
    frames: int = 0
    boxes: dict | None = None
    failed: str = ""


def inputs(data: Path, name: str) -> list[Path]:
    if name == "photos":
        root = data / "detection" / "wider_val_subset"
        return [root / "images_fullres", root / "images_416x416_stretched"]
    return [data / "video"]


def video_hours(folder: Path) -> float:
    seconds = 0.0
    for clip in sorted(folder.iterdir()):
        if clip.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"):
            with av.open(str(clip)) as container:
                seconds += container.duration / av.time_base
    return seconds / 3600


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def runs(ray: bool) -> list[Run]:
    found = [Run("1 worker × 1 thread", ["--workers", "1", "--threads", "1"]),
             Run("1 worker × all threads", ["--workers", "1"]),
             Run(f"default: {cores()} workers × 1 thread", [])]
    if ray:
        found.append(Run("Ray, local cluster, 2 CPUs",
                         ["cluster", "--address", "local", "--workers", "2"]))
    return found


def execute(run: Run, sources: list[Path], workdir: Path) -> None:
    out, report = workdir / "out", workdir / "report.json"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "blindspot.cli"]
    args = list(run.args)
    if args[:1] == ["cluster"]:
        command.append(args.pop(0))
    command += [*map(str, sources), "-o", str(out), "--report", str(report), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    run.wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        run.failed = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return
    if "cluster" not in command:
        run.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    entries = json.loads(report.read_text())["files"]
    run.files = len(entries)
    run.frames = sum(entry["frames"] for entry in entries)
    run.boxes = {entry["output"]: entry["frames_boxes"] for entry in entries}


def same_faces(a: dict | None, b: dict | None) -> str:
    """'yes' when every file has the same boxes within TOLERANCE px, else what differs."""
    if a is None or b is None:
        return "–"
    if a.keys() != b.keys():
        return "no: other files"
    worst, count_off = 0.0, 0
    for name in a:
        for frame_a, frame_b in zip(a[name], b[name], strict=False):
            if len(frame_a) != len(frame_b):
                count_off += 1
            elif frame_a:
                diff = np.abs(np.array([r[:4] for r in frame_a], float)
                              - np.array([r[:4] for r in frame_b], float)).max()
                worst = max(worst, float(diff))
        count_off += abs(len(a[name]) - len(b[name]))
    if count_off or worst > TOLERANCE:
        return f"no: {count_off} frames differ in count, max {worst:.2f} px"
    return f"yes (max {worst:.2f} px)"


def table(rows: list[tuple[str, Run, Run, float | None]]) -> str:
    lines = ["| set | run | wall s | CPU s | files/s | frames/s | speed-up vs 1×1 "
             "| CPU-s per hour of video | same faces as 1×1 (≤ 1 px) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, run, base, hours in rows:
        if run.failed:
            lines.append(f"| {name} | {run.name} | – | – | – | – | – | – | failed: {run.failed} |")
            continue
        cpu = f"{run.cpu:.1f}" if run.cpu is not None else "–"
        per_hour = (f"{run.cpu / hours:,.0f}" if hours and run.cpu is not None else "–")
        lines.append(f"| {name} | {run.name} | {run.wall:.1f} | {cpu} | "
                     f"{run.files / run.wall:.2f} | {run.frames / run.wall:.1f} | "
                     f"{base.wall / run.wall:.2f}× | {per_hour} | "
                     f"{same_faces(base.boxes, run.boxes)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", choices=("photos", "videos"),
                        default=["photos", "videos"])
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray run")
    args = parser.parse_args()
    ray = not args.no_ray
    if ray:
        try:
            import ray as _  # noqa: F401
        except ImportError:
            print("ray is not installed: the Ray run is left out", file=sys.stderr)
            ray = False
    rows = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-scale-") as tmp:
        for name in args.sets:
            sources = inputs(args.data, name)
            hours = video_hours(sources[0]) if name == "videos" else None
            set_runs = runs(ray)
            for run in set_runs:
                execute(run, sources, Path(tmp))
                print(f"{name}: {run.name}: {run.wall:.1f} s {run.failed}", file=sys.stderr)
            rows += [(name, run, set_runs[0], hours) for run in set_runs]
            if hours:
                print(f"{name}: {hours * 3600:.1f} s of video", file=sys.stderr)
    print(table(rows))
    print(f"\nMachine: {cores()} cores, load average {load_start:.1f} at the start and "
          f"{os.getloadavg()[0]:.1f} at the end (other jobs share the cores)")


if __name__ == "__main__":
    main()
