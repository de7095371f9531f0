"""Where blindspot's time goes: CPU seconds (and wall seconds) per stage, video and photo.

Video, per clip of the folder (default `../shared/data/video`) and in total: one
`blindspot.anonymize_file(clip, out)` with default options except `threads` (default 1, see
below), every stage timed from the outside (the bench wraps blindspot's functions; the product
has no timers):

- probe: `probe_video` (opens the file, decodes the first frame);
- decode 1 / decode 2: demuxing and decoding in the detection pass and in the render pass;
- yuv→rgb: the decoded picture converted to RGB (`video_frame._rgb`; only the frames some stage
  looks at);
- detect light / detect thorough: the video detector and the photo detector's passes, split
  into the model (its `run`: OpenVINO on the CPU, ONNX Runtime on CUDA) and the rest (resizing,
  padding, the float blob, decoding the heatmap, NMS);
- track; speech (the sound decoded and searched for speech, `find_speech`);
- redact: covering each frame's boxes;
- rgb→yuv, x264 encode, mux: the render pass's writer (`_Writer._picture`, the rest of
  `_Writer.video`, `_Writer._mux_video`, and `_Writer.finish`, which flushes the encoder);
- audio: the sound's packets copied;
- other: the rest of the call (Python glue, the detection pass's bookkeeping, opening files).

Each stage's time is exclusive (a stage inside another counts only for the inner one). The
product's threads are switched off (the decoder thread ahead of detection, the thorough runs
ahead of the light ones, the render alongside detection: `video.prefetched`,
`video.ThreadPoolExecutor` and `pipeline.anonymize_video` made serial) and `--threads
1` (the default here) gives the model, the decoder and x264 one thread each, so that the
process's CPU time between two points belongs to the stage between them. The floor (one decode
+ x264 encode through `transcode`, frames unchanged, as in `bench/video.py`) is profiled the same
way. Then the real thing, unpatched, with the product's default threads: CPU and wall seconds of
`anonymize_file` and of the floor (the ratio the issue's goal is about), and where its threads
wait (`waits`): the render alone after detection ended, the render waiting for frames tracking
has not settled, the light runs waiting for the thorough run before them.

Photo: a dev photo (the largest of `detection/wider_val_subset/images_fullres`) upscaled to
4000×3000 and saved as a JPEG; `anonymize_file` on it, best of `--runs`, stages: decode (Pillow,
orientation, colour), metadata read (`describe`), detection by pass (whole, coarse, tiles: model
and the rest; the merge), redact, encode (JPEG) with default threads, the model's pictures one
at a time (`CenterFace.run_all` made serial); then unpatched, the product as it runs.

    python bench/profile.py [FOLDER] [--limit N] [--threads N] [--no-video] [--no-photo]
                            [--no-stages] [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import av
import cv2
import numpy as np

# isort: off
import blindspot.detect  # noqa: F401  (first: ONNX Runtime's telemetry off before its import)
import onnxruntime as ort
# isort: on
from PIL import Image

import blindspot.media.photo_source as source
import blindspot.media.video_frame as video_frame
import blindspot.media.video_reader as video_reader
import blindspot.media.video_writer as video_writer
import blindspot.run.pipeline as pipeline
import blindspot.run.video as video
from blindspot import Options, anonymize_file
from blindspot.detect.faces import CenterFace, FaceDetector
from blindspot.detect.openvino_cpu import CpuModel
from blindspot.media.video_writer import output_extension, transcode

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "../shared/data/video"
PHOTO_FOLDER = ROOT / "../shared/data/detection/wider_val_subset/images_fullres"
BIG_SIZE = (4000, 3000)


class Stages:
    """Exclusive CPU (process) and wall seconds per stage name; stages nest (a stack)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []
        self.mark = (time.process_time(), time.perf_counter())

    def _charge(self) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        name = self.stack[-1] if self.stack else "other"
        self.cpu[name] += cpu - self.mark[0]
        self.wall[name] += wall - self.mark[1]
        self.mark = (cpu, wall)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._charge()
        self.stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self.stack.pop()

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else ""

    def reset(self) -> None:
        self.cpu.clear()
        self.wall.clear()
        self.stack.clear()
        self.mark = (time.process_time(), time.perf_counter())

    def finish(self) -> None:
        self._charge()


STAGES = Stages()


def timed(name: str | Callable[..., str], function: Callable) -> Callable:
    """`function` with its calls charged to stage `name` (or `name(*args)`)."""

    def wrapper(*args, **kwargs):
        with STAGES.stage(name(*args) if callable(name) else name):
            return function(*args, **kwargs)

    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper


def timed_iter(name: str, items: Iterator) -> Iterator:
    """`items`, each `next` charged to stage `name`."""
    items = iter(items)
    try:
        while True:
            with STAGES.stage(name):
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def detect_label(detector: FaceDetector, rgb: np.ndarray, *where: object) -> str:
    thorough = detector.settings.tile_scale > 0 or detector.settings.coarse_scale > 0
    return "detect thorough" if thorough else "detect light"


def model_label(*_args) -> str:
    return f"{STAGES.current or 'other'}: model"


class SerialExecutor:
    """`concurrent.futures.ThreadPoolExecutor` that runs each call at once, in the caller's
    thread (the detection pass's thorough runs, made serial)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class InlineCalls:
    """`video_writer._InOrder` that makes each call at once, in the caller's thread (the render
    pass's conversion and encoding, made serial)."""

    def __init__(self, depth: int) -> None:
        pass

    def __enter__(self) -> InlineCalls:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __call__(self, fn: Callable, *args) -> None:
        fn(*args)


def serial_anonymize_video(path, out, options, info, detector, thorough, cover, speech):
    """`video.anonymize_video` made serial: the detection pass, tracking, then the render."""
    boxes = video.track_found(info, video.detect_frames(path, options, detector, thorough),
                              options)
    covered = [cover(dets) for dets in boxes]
    video.render_video(path, out, options, [c for c, _ in covered], [m for _, m in covered],
                       speech())
    return boxes


PATCHES: list[tuple[object, str, Callable[[Callable], Callable]]] = [
    (video_frame, "_rgb", lambda f: timed("yuv→rgb", f)),
    (video, "read_frames", lambda f: lambda *a, **k: timed_iter("decode 1", f(*a, **k))),
    (video, "prefetched", lambda f: lambda items, depth: iter(items)),
    (video, "ThreadPoolExecutor", lambda f: SerialExecutor),
    (video_writer, "_InOrder", lambda f: InlineCalls),
    (pipeline, "anonymize_video", lambda f: serial_anonymize_video),
    (video, "probe_video", lambda f: timed("probe", f)),
    (video, "track_found", lambda f: timed("track", f)),
    (video, "redact", lambda f: timed("redact", f)),
    (pipeline, "find_speech", lambda f: timed("speech", f)),
    (pipeline, "probe_video", lambda f: timed("probe", f)),
    (FaceDetector, "detect", lambda f: timed(detect_label, f)),
    (ort.InferenceSession, "run", lambda f: timed(model_label, f)),
    (CpuModel, "run", lambda f: timed(model_label, f)),
    # The writer's steps: the conversion, then what is left of `video` is x264 encoding (each
    # stage is charged its own time only: the innermost one counts).
    (video_writer._Writer, "video", lambda f: timed("x264 encode", f)),
    (video_writer._Writer, "_picture", lambda f: timed("rgb→yuv", f)),
    (video_writer._Writer, "_mux_video", lambda f: timed("mux", f)),
    (video_writer._Writer, "finish", lambda f: timed("x264 encode", f)),
    (video_writer._Writer, "audio", lambda f: timed("audio", f)),
]


def decoder_feed(original: Callable) -> Callable:
    def feed(self, packet):
        # The render pass decodes in `transcode`; the detection pass in `read_frames`, whose
        # iteration is already charged to "decode 1".
        name = "decode 1" if STAGES.current == "decode 1" else "decode 2"
        return timed_iter(name, original(self, packet))
    return feed


PATCHES.append((video_reader._Decoder, "feed", decoder_feed))

PHOTO_PATCHES: list[tuple[object, str, Callable[[Callable], Callable]]] = [
    (pipeline, "read_photo", lambda f: timed("decode", f)),
    # The model's pictures one at a time (the product runs them `streams` at once).
    (CenterFace, "run_all", lambda f: lambda self, jobs: [job() for job in jobs]),
    (source, "describe", lambda f: timed("metadata read", f)),
    (FaceDetector, "detect", lambda f: timed("detect: merge", f)),
    (FaceDetector, "_tiles", lambda f: lambda *a: [timed("pass tiles", job) for job in f(*a)]),
    (FaceDetector, "_whole", lambda f: timed(
        lambda self, rgb, factor: "pass whole" if abs(
            factor - self.budget_factor(rgb.shape[1], rgb.shape[0])) < 1e-9
        else "pass coarse", f)),
    (ort.InferenceSession, "run", lambda f: timed(model_label, f)),
    (CpuModel, "run", lambda f: timed(model_label, f)),
    (pipeline, "redact", lambda f: timed("redact", f)),
    (pipeline, "_write", lambda f: timed("encode JPEG", f)),
]


@contextlib.contextmanager
def patched(patches) -> Iterator[None]:
    saved = []
    try:
        for owner, name, make in patches:
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, make(original))
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def profile(call: Callable[[], object], patches) -> tuple[dict[str, float], dict[str, float]]:
    """Per-stage (CPU, wall) seconds of `call()` (the rest is "other")."""
    with patched(patches):
        STAGES.reset()
        call()
        STAGES.finish()
    return dict(STAGES.cpu), dict(STAGES.wall)


def measured(call: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    return time.process_time() - cpu, time.perf_counter() - wall


@contextlib.contextmanager
def waits() -> Iterator[dict[str, float]]:
    """While inside: where the product's threads wait, in wall seconds (a clock read per
    call): "render waits" (the render for a frame tracking has not settled), "light waits"
    (the detection thread for the thorough run before a light run), "detected at" (when
    detection ended, from the start)."""
    got = {"render waits": 0.0, "light waits": 0.0, "detected at": 0.0}
    start = time.perf_counter()
    get, end, result = video._Settled.get, video._Settled.end, Future.result

    def timed_get(self, index):
        t = time.perf_counter()
        try:
            return get(self, index)
        finally:
            got["render waits"] += time.perf_counter() - t

    def timed_end(self, error=None):
        got["detected at"] = time.perf_counter() - start
        return end(self, error)

    def timed_result(self, timeout=None):
        t = time.perf_counter()
        try:
            return result(self, timeout)
        finally:
            if threading.current_thread().name == "blindspot-detect":
                got["light waits"] += time.perf_counter() - t

    video._Settled.get, video._Settled.end, Future.result = timed_get, timed_end, timed_result
    try:
        yield got
    finally:
        video._Settled.get, video._Settled.end, Future.result = get, end, result


ORDER = ["probe", "decode 1", "yuv→rgb", "detect light", "detect light: model",
         "detect thorough", "detect thorough: model", "track", "speech", "speech: model",
         "decode 2", "redact", "rgb→yuv", "x264 encode", "mux", "audio",
         "decode", "metadata read", "pass whole", "pass whole: model", "pass coarse",
         "pass coarse: model", "pass tiles", "pass tiles: model", "detect: merge",
         "encode JPEG", "other"]


def stage_table(title: str, cpu: dict[str, float], wall: dict[str, float],
                floor: tuple[dict[str, float], dict[str, float]] | None = None) -> str:
    names = sorted(set(cpu) | set(floor[0] if floor else {}),
                   key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    total_cpu, total_wall = sum(cpu.values()), sum(wall.values())
    head = "| stage | CPU s | wall s | share of CPU |"
    rule = "|---|---:|---:|---:|"
    if floor:
        head += " floor CPU s |"
        rule += "---:|"
    lines = [f"**{title}**", "", head, rule]
    for name in names:
        c = cpu.get(name, 0.0)
        line = f"| {name} | {c:.2f} | {wall.get(name, 0.0):.2f} | {c / max(total_cpu, 1e-9):.1%} |"
        if floor:
            line += f" {floor[0].get(name, 0.0):.2f} |"
        lines.append(line)
    line = f"| **total** | **{total_cpu:.2f}** | **{total_wall:.2f}** | 100% |"
    if floor:
        f = sum(floor[0].values())
        line += f" **{f:.2f}** ({total_cpu / max(f, 1e-9):.2f}× floor) |"
    lines.append(line)
    return "\n".join(lines)


def clips_in(folder: Path) -> list[Path]:
    with open(folder / "videos.tsv", newline="") as f:
        return [folder / row["file"] for row in csv.DictReader(f, delimiter="\t")]


def profile_video(folder: Path, limit: int | None, threads: int, stages: bool = True) -> None:
    clips = clips_in(folder)[:limit]
    options = Options(overwrite=True, threads=threads)
    real = Options(overwrite=True)
    totals = [defaultdict(float) for _ in range(4)]
    real_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Load the models outside every timing.
        if stages:
            anonymize_file(clips[0], work / f"warm{output_extension(clips[0].suffix)}", options)
        anonymize_file(clips[0], work / f"warm{output_extension(clips[0].suffix)}", real)
        for clip in clips:
            suffix = output_extension(clip.suffix)
            out = work / f"{clip.stem}.out{suffix}"
            floor_out = work / f"{clip.stem}.floor{suffix}"

            def floor(threads: int = threads, floor_out: Path = floor_out, clip: Path = clip,
                      suffix: str = suffix) -> None:
                with open(floor_out, "wb") as f:
                    transcode(clip, f, suffix, lambda frame: frame.rgb, crf=Options().crf,
                              threads=threads)

            if stages:
                cpu, wall = profile(lambda clip=clip, out=out: anonymize_file(clip, out, options),
                                    PATCHES)
                fcpu, fwall = profile(floor, PATCHES)
                for total, part in zip(totals, (cpu, wall, fcpu, fwall), strict=True):
                    for k, v in part.items():
                        total[k] += v
                with av.open(str(clip)) as c:
                    frames = c.streams.video[0].frames
                    size = f"{c.streams.video[0].width}×{c.streams.video[0].height}"
                print(stage_table(f"{clip.name} ({size}, {frames} frames), threads={threads}, "
                                  "serial", cpu, wall, (fcpu, fwall)))
                print()
            with waits() as waited:
                b = measured(lambda clip=clip, out=out: anonymize_file(clip, out, real))
            fl = measured(lambda floor=floor: floor(0))
            real_rows.append((clip.name, b, fl, waited))
            sys.stdout.flush()
    if stages:
        print(stage_table(f"all {len(clips)} clips, threads={threads}, serial", totals[0],
                          totals[1], (totals[2], totals[3])))
        print()
    print("**The product as it runs** (default threads, its threads at once; unpatched). "
          "Render alone: wall seconds after detection ended; render waits: for frames tracking "
          "had not settled; light waits: the light runs for the thorough run before them\n")
    print("| clip | blindspot CPU s | blindspot wall s | floor CPU s | floor wall s | "
          "CPU × floor | wall × floor | render alone s | render waits s | light waits s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (bc, bw), (fc, fw), w in real_rows:
        print(f"| {name} | {bc:.2f} | {bw:.2f} | {fc:.2f} | {fw:.2f} | {bc / fc:.2f} | "
              f"{bw / fw:.2f} | {bw - w['detected at']:.2f} | {w['render waits']:.2f} | "
              f"{w['light waits']:.2f} |")
    bc, bw = sum(r[1][0] for r in real_rows), sum(r[1][1] for r in real_rows)
    fc, fw = sum(r[2][0] for r in real_rows), sum(r[2][1] for r in real_rows)
    alone = sum(r[1][1] - r[3]["detected at"] for r in real_rows)
    render, light = (sum(r[3][k] for r in real_rows) for k in ("render waits", "light waits"))
    print(f"| **total** | {bc:.2f} | {bw:.2f} | {fc:.2f} | {fw:.2f} | {bc / fc:.2f} | "
          f"{bw / fw:.2f} | {alone:.2f} | {render:.2f} | {light:.2f} |")
    print()


def profile_photo(runs: int) -> None:
    paths = sorted(PHOTO_FOLDER.glob("*/*.jpg"))
    sizes = [(Image.open(p).size, p) for p in paths]
    path = max(sizes, key=lambda s: s[0][0] * s[0][1])[1]
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    big = cv2.resize(rgb, BIG_SIZE, interpolation=cv2.INTER_CUBIC)
    options = Options(overwrite=True)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "big.jpg", Path(tmp) / "big.anon.jpg"
        Image.fromarray(big).save(src, quality=92)
        anonymize_file(src, out, options)  # loads the model
        best = None
        for _ in range(runs):
            cpu, wall = profile(lambda: anonymize_file(src, out, options), PHOTO_PATCHES)
            if best is None or sum(wall.values()) < sum(best[1].values()):
                best = (cpu, wall)
        plain = min((measured(lambda: anonymize_file(src, out, options)) for _ in range(runs)),
                    key=lambda m: m[1])
    print(stage_table(f"{BIG_SIZE[0]}×{BIG_SIZE[1]} photo ({path.name} upscaled), "
                      "anonymize_file to JPEG, default threads, one picture at a time, "
                      f"best of {runs}", *best))
    print(f"\nUnpatched, best of {runs}: {plain[1]:.2f} s wall, {plain[0]:.2f} s CPU")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER.resolve())
    parser.add_argument("--limit", type=int, help="only the first N clips")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of the model, the decoder and x264 while profiling "
                             "(default 1: each stage's CPU time is its own)")
    parser.add_argument("--runs", type=int, default=3, help="photo: best of N")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--no-photo", action="store_true")
    parser.add_argument("--no-stages", action="store_true",
                        help="video: only the product as it runs, against the floor")
    args = parser.parse_args(argv)
    if not args.no_video:
        profile_video(args.folder, args.limit, args.threads, not args.no_stages)
    if not args.no_photo:
        profile_photo(args.runs)


if __name__ == "__main__":
    main()
