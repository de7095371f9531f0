"""Audit: attack an anonymized output the way someone who wants the people in it would, and say
plainly what is still there.

- Leak check: blindspot's own face detector (every pass, at a confident threshold) and two
  independent ones, dlib's HOG and CNN (MMOD) detectors, look for faces in the output: every
  `every`-th frame of a video or animation. Any face found is a leak.
- Re-identification attack, when the original is given: each face blindspot finds in the
  original is embedded with dlib's ResNet face recognizer, and so is the same place of the output
  (the attacker knows where the face was: no face has to be found in the output). A distance
  under dlib's match threshold, 0.6, means the output still identifies that person.
- Metadata residue: the identifying tags exiftool reads in the output (or, without exiftool,
  what Pillow or PyAV can read).

The recognizer is used only inside one run, to compare one original with its own output; it is
never used to build, store or search a set of identities. Original pixels, face crops and
embeddings stay in memory and are dropped after each frame: nothing of the original is written
anywhere (reports show the output only). Passing is a lower bound on the risk, not a proof of
safety: stronger recognizers than dlib's exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import zip_longest
from pathlib import Path

import cv2
import numpy as np

from .detect import DetectorSettings, FaceDetector
from .errors import BlindspotError

INSTALL_HINT = "the audit needs dlib and its models: pip install 'blindspot[audit]'"
VERDICTS = ("PASS", "FAIL")


@dataclass(frozen=True)
class AuditSettings:
    """How hard the audit looks. The thresholds were measured on blindspot's outputs (README)."""

    every: int = 1  # check every n-th frame of a video or animation (1: every frame)
    # Leak check: a box at or above these scores is a face found in the output. Measured on
    # 23 real photos (WIDER FACE, dlib's test faces; 640 faces) anonymized by blindspot: the
    # highest score blindspot's detector gives anything in a solid-mode output is 0.50 (0.56
    # in blur mode; a mosaic still looks like a face to it, up to 0.79), real faces score up
    # to 0.96; neither dlib detector finds anything in a covered face (HOG ≤ -0.5, CNN nothing).
    threshold: float = 0.6  # blindspot's detector, all passes (its own default is 0.06)
    hog_threshold: float = 0.3  # dlib HOG (SVM margin); no face ≥ -0.2 in the outputs
    cnn_threshold: float = 0.3  # dlib CNN (MMOD); real faces scored 0.63 and more
    # dlib's HOG sees faces from 80 px; the image is enlarged up to 2× (faces from 40 px)
    # while that stays under this many pixels, and shrunk to it when larger.
    hog_max_pixels: int = 4_000_000
    # dlib's CNN is slow on a CPU (about 3 s for 512×512 on one core): it sees the image shrunk
    # to at most this many pixels, so it only finds faces larger than ~70 px at that size.
    cnn_max_pixels: int = 300_000
    # Re-identification: the faces of the original are what blindspot's detector scores at
    # least this, with a shorter side of at least `reid_min_face` px; a distance under
    # `match_distance` (dlib's own threshold) is a match. dlib's embeddings of non-faces (backs
    # of heads scored 0.46) and of faces under ~40 px are unreliable: on blindspot's solid
    # outputs they came as close as 0.29 to a black ellipse. Smaller faces are left to the
    # leak check.
    original_threshold: float = 0.6
    reid_min_face: int = 40
    match_distance: float = 0.6
    max_pixels: int = 150_000_000
    max_duration: float = 6 * 3600.0
    thumbnails: int = 6  # frames shown per file in the HTML report, at most
    thumbnail_side: int = 480

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be 1 or more, not {self.every}")
        for name in ("threshold", "original_threshold"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie between 0 and 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class Leak:
    """A face a detector found in the output."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output's displayed pixels
    detector: str  # "blindspot", "dlib-hog" or "dlib-cnn"
    score: float


@dataclass(frozen=True)
class Reid:
    """One face of the original, attacked at the same place in the output."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output
    distance: float  # Euclidean, between 128-d dlib embeddings
    match: bool  # distance < match_distance: the output still identifies this person


@dataclass
class View:
    """A downscaled frame of the OUTPUT, for the HTML report (never the original)."""

    frame: int
    rgb: np.ndarray
    scale: float  # thumbnail pixels per output pixel


@dataclass
class AuditResult:
    output: Path
    original: Path | None
    frames: int = 0
    frames_checked: int = 0
    leaks: list[Leak] = field(default_factory=list)
    reid: list[Reid] = field(default_factory=list)  # empty without an original
    faces_in_original: int = 0  # attacked (at least `reid_min_face` px)
    faces_too_small: int = 0  # found in the original, too small for the recognizer
    metadata: list[str] = field(default_factory=list)
    metadata_source: str = "exiftool"
    views: list[View] = field(default_factory=list, repr=False)

    @property
    def matches(self) -> list[Reid]:
        return [r for r in self.reid if r.match]

    @property
    def passed(self) -> bool:
        return not (self.leaks or self.matches or self.metadata)

    @property
    def verdict(self) -> str:
        return VERDICTS[0] if self.passed else VERDICTS[1]

    @property
    def min_distance(self) -> float | None:
        return min((r.distance for r in self.reid), default=None)

    def to_dict(self) -> dict:
        """Findings for `--json`; names the output only (the original's name can identify)."""
        return {
            "output": str(self.output), "original_given": self.original is not None,
            "verdict": self.verdict, "frames": self.frames, "frames_checked": self.frames_checked,
            "leaks": [_rounded(asdict(leak)) for leak in self.leaks],
            "faces_in_original": self.faces_in_original, "faces_too_small": self.faces_too_small,
            "reid": [_rounded(asdict(r)) for r in self.reid],
            "reid_matches": len(self.matches),
            "min_distance": None if self.min_distance is None else round(self.min_distance, 3),
            "metadata": self.metadata, "metadata_source": self.metadata_source,
        }


def audit_file(output: str | os.PathLike, original: str | os.PathLike | None = None,
               settings: AuditSettings | None = None) -> AuditResult:
    """Audit the anonymized `output` (photo or video), attacking it with `original` if given."""
    settings = settings or AuditSettings()
    models = _models()
    output = Path(output)
    result = AuditResult(output, Path(original) if original is not None else None)
    frames = _frames(output, settings)
    pairs = (zip_longest(frames, _frames(result.original, settings))
             if result.original is not None else ((f, None) for f in frames))
    for index, (out, orig) in enumerate(pairs):
        if out is None or (result.original is not None and orig is None):
            raise BlindspotError("the output and its original differ in their number of "
                                 "frames (frame N of the output must be frame N of the "
                                 "original)", str(output))
        result.frames += 1
        if index % settings.every:
            continue
        result.frames_checked += 1
        leaks = _leaks(out, index, models, settings)
        reid, small = _reid(orig, out, index, models, settings) if orig is not None else ([], 0)
        result.leaks += leaks
        result.reid += reid
        result.faces_in_original += len(reid)
        result.faces_too_small += small
        if (leaks or any(r.match for r in reid) or not result.views) \
                and len(result.views) < settings.thumbnails:
            result.views.append(_view(out, index, settings.thumbnail_side))
    result.metadata, result.metadata_source = _named(output, _metadata, output)
    return result


# ---------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _Models:
    dlib: object
    hog: object
    cnn: object
    landmarks: object
    recognizer: object


def require_dlib() -> None:
    """Raise BlindspotError with the install hint when dlib or its models are missing."""
    _models()


@lru_cache(maxsize=1)
def _models() -> _Models:
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError:
        raise BlindspotError(INSTALL_HINT) from None
    return _Models(
        dlib, dlib.get_frontal_face_detector(),
        dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location()),
        dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(frm.face_recognition_model_location()))


@lru_cache(maxsize=4)
def _detector(threshold: float) -> FaceDetector:
    return FaceDetector(DetectorSettings(threshold=threshold))  # every pass, default settings


# ---------------------------------------------------------------------------- frames


def _frames(path: Path, settings: AuditSettings) -> Iterator[np.ndarray]:
    """The frames of the photo, animation or video at `path`, upright RGB, in order; errors
    name `path`."""
    from .pipeline import is_video
    try:
        if is_video(path):
            from .video_io import probe_video, read_frames
            probe_video(path, settings.max_pixels, settings.max_duration)
            for frame in read_frames(path):
                yield frame.rgb
        else:
            from .source import read_photo
            yield from read_photo(path, settings.max_pixels).frames
    except BlindspotError as e:
        e.path = e.path or str(path)
        raise
    except MemoryError:
        raise BlindspotError("out of memory", str(path)) from None


def _named(path: Path, function, *args):
    """`function(*args)`, with a BlindspotError naming `path`."""
    try:
        return function(*args)
    except BlindspotError as e:
        e.path = e.path or str(path)
        raise


def _metadata(path: Path) -> tuple[list[str], str]:
    from .residue import exiftool_available, exiftool_tags, identifying_tags
    if exiftool_available():
        return identifying_tags(exiftool_tags(path)), "exiftool"
    from .pipeline import is_video
    if is_video(path):
        from .video_io import probe_video
        info = probe_video(path, 1 << 62, float("inf"))
        return info.metadata + info.dropped_streams, "PyAV"
    from .metadata import describe
    from .source import open_image
    with open_image(path, 1 << 62) as image:
        return describe(image), "Pillow"


# ---------------------------------------------------------------------------- attacks


def _leaks(rgb: np.ndarray, index: int, m: _Models, s: AuditSettings) -> list[Leak]:
    leaks = []
    dets = _detector(s.threshold).detect(rgb)
    for (x1, y1, x2, y2), score in zip(dets.boxes.tolist(), dets.scores.tolist(), strict=True):
        leaks.append(Leak(index, (x1, y1, x2 - x1, y2 - y1), "blindspot", score))
    small, k = _resized(rgb, min(2.0, (s.hog_max_pixels / _area(rgb)) ** 0.5))
    rects, scores, _ = m.hog.run(small, 0, s.hog_threshold)
    for rect, score in zip(rects, scores, strict=True):
        leaks.append(Leak(index, _xywh(rect, k), "dlib-hog", float(score)))
    small, k = _resized(rgb, min(1.0, (s.cnn_max_pixels / _area(rgb)) ** 0.5))
    for found in m.cnn(small, 0):
        if found.confidence >= s.cnn_threshold:
            leaks.append(Leak(index, _xywh(found.rect, k), "dlib-cnn", float(found.confidence)))
    return leaks


def _reid(original: np.ndarray, output: np.ndarray, index: int, m: _Models,
          s: AuditSettings) -> tuple[list[Reid], int]:
    """Each face of `original` against the same place of `output`, and how many faces were
    too small to attack.

    Two alignments are tried and the closer one counts: the 5 landmarks found in the output
    at the face's box (what an attacker who knows where the face was gets), and the original's
    own landmarks (a perfectly aligned attacker). Embeddings live only in this function.
    """
    original, output = np.ascontiguousarray(original), np.ascontiguousarray(output)
    sy, sx = output.shape[0] / original.shape[0], output.shape[1] / original.shape[1]
    dlib, found, small = m.dlib, [], 0
    for x1, y1, x2, y2 in _detector(s.original_threshold).detect(original).boxes.tolist():
        if min(x2 - x1, y2 - y1) < s.reid_min_face:
            small += 1
            continue
        rect = dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
        shape = m.landmarks(original, rect)
        reference = np.array(m.recognizer.compute_face_descriptor(original, shape))
        out_rect = dlib.rectangle(round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))
        moved = dlib.full_object_detection(out_rect, [
            dlib.point(round(p.x * sx), round(p.y * sy)) for p in shape.parts()])
        distance = min(
            float(np.linalg.norm(np.array(m.recognizer.compute_face_descriptor(output, sh))
                                 - reference))
            for sh in (m.landmarks(output, out_rect), moved))
        del reference, shape
        box = (x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy)
        found.append(Reid(index, box, distance, distance < s.match_distance))
    return found, small


def _area(rgb: np.ndarray) -> int:
    return max(1, rgb.shape[0] * rgb.shape[1])


def _resized(rgb: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """`rgb` scaled by about `factor`, and the exact factor used."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == (w, h):
        return np.ascontiguousarray(rgb), 1.0
    interp = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
    return cv2.resize(rgb, size, interpolation=interp), size[0] / w


def _xywh(rect, k: float) -> tuple[float, float, float, float]:
    return (rect.left() / k, rect.top() / k, rect.width() / k, rect.height() / k)


def _view(rgb: np.ndarray, index: int, side: int) -> View:
    small, k = _resized(rgb, min(1.0, side / max(rgb.shape[:2])))
    return View(index, small, k)


def _rounded(item: dict) -> dict:
    out = {}
    for key, value in item.items():
        if isinstance(value, float):
            value = round(value, 3)
        elif isinstance(value, tuple):
            value = [round(v, 1) for v in value]
        out[key] = value
    return out
