"""Audit: attack an anonymized output the way someone who wants the people in it would, and say
plainly what is still there.

- Leak check: blindspot's own face detector (every pass, at a confident threshold) and two
  independent ones, dlib's HOG and CNN (MMOD) detectors, look for faces in the output. Any face
  found is a leak.
- Re-identification attack, when the original is given. The attacker's pipeline: find faces in
  the OUTPUT (the three detectors above, at lower thresholds than the leak check: a face the
  attacker only suspects is still worth a try), align each with dlib's 5 landmarks found on the
  output, embed it with dlib's ResNet recognizer. A face found where a face of the original is
  (blindspot's detector on the original) is compared with that face's print. It is a match when
  the evidence says so: the distance is under dlib's threshold, 0.6, AND the output's print is
  clearly nearer to the person (by `impostor_margin`, 0.15) than the impostors available in this
  run: the same crop of the original with its faces blacked out (what a covered face gives), and
  the other people of the same frame. Where the attacker finds no face in the output, nothing
  is compared: dlib's prints of crops that hold no face are noise (a black ellipse came as
  close as 0.55 to the face it covers).
- Text left (`text`): two readers that share nothing, Tesseract 5 (when installed) and
  blindspot's own PP-OCRv4 recognizer, read the output in several views (upscaled, turned,
  round badges unrolled), not only where blindspot's text detector finds text. With the
  original, a word is left when it is read with confidence at the place of a resembling word
  read in the original (a reader's guess on a cover is not); without it, every word read with
  confidence. Plate-like strings are marked; findings give a word's place and length, never
  the word. It is a FAIL for what `cover` says the output was meant to cover (any readable
  text with "text", plate-like strings with "plates").
- People left (`people`), when the output was meant to cover people (`--cover people`):
  blindspot's person detector looks for people in the output; one it finds is a FAIL.
- Voices (`voice`), for a video or a sound file with its original: each span of the
  original's speech and the output's sound over it are compared by a speaker recognizer (GE2E);
  where speech is left and the two are as alike as two recordings of one speaker, it is a FAIL.
- Sound left as it was (`sound`), for a video or a sound file with its original: every 20 ms
  of the two sounds are compared sample by sample; where the audit's own speech finder hears
  speech and the output still carries the original's waveform at about its level, it is a
  FAIL, with the times. Without the original: where the output holds speech (reported).
- Metadata residue: the identifying tags exiftool reads in the output (or, without exiftool,
  what Pillow or PyAV can read).

Videos and animations are sampled (`AuditSettings.every` None, the default): every frame is
decoded once; a cheap single-pass detection runs on every `scan_every`-th frame of the original
(of the output without one), and, with the original, every frame's faces are tested for cover
(has the middle of each face changed from the original?). The full checks above run on a regular
sample, the first and last frame, frames where the original's faces appear, disappear or jump,
and the first frame of every stretch where a face of the original is left unchanged (or, without
the original, where the scan finds a face in the output). blindspot's tiled passes run on one
checked frame in `thorough_every` frames at most (the other checked frames get its whole-frame
pass), and dlib's CNN, the slowest, on those same frames, or with the original given on the first
of them only (every frame's faces are then tested for being left as they were). Text is read on
the thorough frames. An explicit `every` checks every N-th frame with every detector instead.

A sound file (`media.sound.is_sound`) has no pictures: it gets the sound checks (`sound`, `voice`)
and the metadata check only.

The recognizer is used only inside one run, to compare one original with its own output; it is
never used to build, store or search a set of identities. Original pixels, face crops and
embeddings stay in memory and are dropped after each frame: nothing of the original is written
anywhere (reports show the output only). Passing is a lower bound on the risk, not a proof of
safety: stronger recognizers than dlib's exist.

Over 400 lines, on purpose: the face and people attacks on each sampled frame (the sampler,
three detectors, the re-identification) share one frame loop and its per-file state; the text,
sound and voice checks have modules of their own.
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

from ..detect.faces import DetectorSettings, FaceDetector
from ..detections import Detections, iou_matrix
from ..errors import BlindspotError
from ..wording import install_hint
from .people import PersonLeft, people_left
from .sound import SoundCheck, check_sound
from .text import Rules, TextLeft, failing, read_left, readers
from .voice import VoiceCheck, check_voice

INSTALL_HINT = f"the audit needs dlib and its models: {install_hint('audit')}"
VERDICTS = ("PASS", "FAIL")


@dataclass(frozen=True)
class AuditSettings:
    """How hard the audit looks. The thresholds were measured on blindspot's outputs
    (docs/audit.md)."""

    # Videos and animations: None samples frames (module docstring); N checks every N-th frame
    # with every detector.
    every: int | None = None
    sample_every: int = 16  # the regular sample: every this many frames (and the last)
    scan_every: int = 4  # the cheap scan of the original's faces: every this many frames
    scan_threshold: float = 0.4  # its detector (one pass) keeps faces scoring at least this
    scan_max_pixels: int = 500_000  # and sees the frame shrunk to at most this many pixels
    # A face of the original is left unchanged when, in the middle of its box (the central
    # half each way), the output differs from the original by less than this many times the
    # original's own contrast there (mean absolute difference / standard deviation). On the dev
    # clips anonymized by blindspot the covered faces came out at 1.9 and more; a frame left
    # unmasked (encoded twice with x264) at 0.23.
    unchanged_ratio: float = 0.5
    # A sampled frame gets the thorough check (blindspot's detector with all its passes, small
    # faces in tiles included, on the output and the original, and dlib's CNN: with the
    # original given, on the first thorough frame only) at most once in
    # this many frames, the first checked frame included; the others a quick one (blindspot's
    # detector on the whole frame once, dlib's HOG; the original's faces from the scan).
    thorough_every: int = 64
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
    # Re-identification. The faces of the original are what blindspot's detector scores at
    # least `original_threshold`, with a shorter side of at least `reid_min_face` px (dlib's
    # prints of smaller faces are unreliable; they are left to the leak check). The attacker
    # tries every face it finds in the output with an IoU of at least `reid_overlap` with one
    # of them: blindspot's detector from `found_threshold`, HOG from `found_hog_threshold`, the
    # CNN from 0. A match: a distance under `match_distance` (dlib's own threshold) and at
    # least `impostor_margin` under the nearest impostor's (module docstring). The margin is
    # what a print moves by when nothing about the face changes: the same face saved as JPEG
    # (quality 60) and its crop shifted by 3 px came 0.075-0.17 from the original's print
    # (astronaut and 12 LFW faces).
    original_threshold: float = 0.6
    # A face of the original left unchanged in the output (`unchanged_ratio`) is a leak too:
    # in a photo from this score up (blindspot's detector, every pass; blindspot covers all it
    # finds from 0.05, so only a file it did not anonymize, or anonymized with other settings,
    # has one), in a video from `original_threshold` (the cheap scan's faces): between
    # detection runs blindspot's video path leaves the detector's weaker false positives
    # uncovered (hands, a bottle, a jacket scored 0.42-0.50 on the dev clips).
    unchanged_photo_threshold: float = 0.3
    reid_min_face: int = 40
    found_threshold: float = 0.3
    found_hog_threshold: float = -0.5
    reid_overlap: float = 0.25
    match_distance: float = 0.6
    impostor_margin: float = 0.15
    # What the output was meant to cover (names of `--cover`): text left of those kinds FAILs.
    cover: tuple[str, ...] = ("faces",)
    # Text is readable when a reader reads at least `text_min_chars` letters or digits with at
    # least its confidence. Without the original: `text_confidence` blindspot's reader
    # (PP-OCRv4's recognizer; as before Tesseract), `text_tesseract_confidence` Tesseract.
    # With it, a word the original holds (read there from the `text_original_*` confidences)
    # is left when the output's word at its place is read from those confidences too and is
    # within a normalised edit distance of `text_similar` of it (`text.distance`). Chosen on
    # the tune photos of bench/text_audit.py (docs/text.md); without the original they are
    # higher: nothing else tells a reader's guess on a cover or a texture from a word.
    text_confidence: float = 0.8
    text_tesseract_confidence: float = 0.9
    text_original_confidence: float = 0.5
    text_original_tesseract_confidence: float = 0.9
    text_similar: float = 0.5
    text_min_chars: int = 3
    # A person the person detector finds in the output from this score up is left uncovered
    # (with `cover` naming people; on thorough frames).
    person_threshold: float = 0.5
    # Voices: a span of the original's speech and the output's sound over it match from this
    # cosine of their GE2E prints (`voice`); spans shorter than `voice_min_seconds` are
    # compared together. 0.707 is where two clean recordings of one speaker and of two
    # speakers are told apart equally badly (EER 0.9 %, bench/voice.py, tune speakers): 99 %
    # of same-speaker pairs reach it. A kept voice through AAC scores 0.99 and more.
    voice_threshold: float = 0.707
    voice_min_seconds: float = 1.0
    max_pixels: int = 150_000_000
    max_duration: float = 6 * 3600.0
    thumbnails: int = 6  # frames shown per file in the HTML report, at most
    thumbnail_side: int = 480

    def __post_init__(self) -> None:
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be 1 or more, not {self.every}")
        for name in ("sample_every", "scan_every", "thorough_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more, not {getattr(self, name)}")
        for name in ("threshold", "original_threshold", "scan_threshold", "found_threshold"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie between 0 and 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class Leak:
    """A face a detector found in the output."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output's displayed pixels
    # "blindspot", "dlib-hog" or "dlib-cnn"; "unchanged": a face blindspot's detector found in
    # the original whose middle is as it was in the output
    detector: str
    score: float


@dataclass(frozen=True)
class Reid:
    """A face the attacker found in the output where a face of the original is, compared."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output: the face found there
    detector: str  # the detector that found it
    distance: float  # Euclidean, between the 128-d dlib prints of this face and the original's
    impostor: float  # the nearest impostor's distance to the original's face
    match: bool  # distance < match_distance and < impostor - margin: identifies the person


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
    thorough_checked: int = 0  # frames checked with blindspot's tiled passes (see thorough_every)
    leaks: list[Leak] = field(default_factory=list)
    reid: list[Reid] = field(default_factory=list)  # empty without an original
    faces_in_original: int = 0  # attacked (at least `reid_min_face` px), in the checked frames
    faces_too_small: int = 0  # found in the original, too small for the recognizer
    metadata: list[str] = field(default_factory=list)
    metadata_source: str = "exiftool"
    text: list[TextLeft] = field(default_factory=list)  # readable text, on thorough frames
    text_failing: list[TextLeft] = field(default_factory=list)  # of it, what --cover covers
    text_readers: list[str] = field(default_factory=list)  # who read it (readers())
    people: list[PersonLeft] = field(default_factory=list)  # --cover people: people found
    voice: VoiceCheck | None = None  # a video or sound file with its original and speech in it
    sound: SoundCheck | None = None  # a video with its original, any sound file (audit.sound)
    sound_only: bool = False  # a sound file: no pictures, so no face, text or people checks
    views: list[View] = field(default_factory=list, repr=False)

    @property
    def matches(self) -> list[Reid]:
        return [r for r in self.reid if r.match]

    @property
    def passed(self) -> bool:
        return not (self.leaks or self.matches or self.metadata or self.text_failing
                    or self.people or (self.voice is not None and self.voice.matches)
                    or (self.sound is not None and not self.sound.passed))

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
            "thorough_checked": self.thorough_checked,
            "leaks": [_rounded(asdict(leak)) for leak in self.leaks],
            "faces_in_original": self.faces_in_original, "faces_too_small": self.faces_too_small,
            "reid": [_rounded(asdict(r)) for r in self.reid],
            "reid_matches": len(self.matches),
            "min_distance": None if self.min_distance is None else round(self.min_distance, 3),
            "metadata": self.metadata, "metadata_source": self.metadata_source,
            "text_left": [_rounded(asdict(t)) for t in self.text],  # places and lengths only
            "text_failing": len(self.text_failing),
            "text_readers": self.text_readers,
            "people_left": [_rounded(asdict(p)) for p in self.people],
            "voice": None if self.voice is None else {
                "speech_seconds": round(self.voice.speech_seconds, 2),
                "left_seconds": round(self.voice.left_seconds, 2),
                "compared": [{k: round(v, 3) if isinstance(v, float) else v
                              for k, v in asdict(m).items()} for m in self.voice.compared],
                "matches": len(self.voice.matches)},
            "sound_only": self.sound_only,
            "sound": None if self.sound is None else {
                "original_given": self.sound.original_given,
                "seconds": round(self.sound.duration, 2),
                "speech_seconds": round(self.sound.speech_seconds, 2),
                "speech_threshold": round(self.sound.threshold, 3),
                "lag_seconds": round(self.sound.lag, 4),
                "leaks": [[round(a, 2), round(b, 2)] for a, b in self.sound.leaks],
                "leak_seconds": round(self.sound.leak_seconds, 2)},
        }


def audit_file(output: str | os.PathLike, original: str | os.PathLike | None = None,
               settings: AuditSettings | None = None) -> AuditResult:
    """Audit the anonymized `output` (photo, video or sound file), attacking it with
    `original` if given.

    Each file is decoded once (the sound twice more, for the sound checks); frames are kept
    only until they are checked or passed over.
    """
    settings = settings or AuditSettings()
    output = Path(output)
    result = AuditResult(output, Path(original) if original is not None else None)
    from ..media.sound import is_sound
    if is_sound(output):
        return _audit_sound(result, settings)
    models = _models()
    frames = _frames(output, settings)
    pairs = (zip_longest(frames, _frames(result.original, settings))
             if result.original is not None else ((f, None) for f in frames))
    from ..run.pipeline import is_video
    video = is_video(output)
    sampler, last, thorough_at = _Sampler(settings), None, None
    for index, (out, orig) in enumerate(pairs):
        if out is None or (result.original is not None and orig is None):
            raise BlindspotError("the output and its original differ in their number of "
                                 "frames (frame N of the output must be frame N of the "
                                 "original)", str(output))
        result.frames += 1
        last = None
        if not sampler.wants(index, out, orig):
            last = (index, out, orig)
            continue
        thorough = settings.every is not None or thorough_at is None \
            or index - thorough_at >= settings.thorough_every
        thorough_at = index if thorough else thorough_at
        _check(result, index, out, orig, sampler, thorough, models, settings, video)
    if last is not None and settings.every is None and result.frames > 1:  # the last frame
        index, out, orig = last
        _check(result, index, out, orig, sampler, False, models, settings, video)
    if video and result.original is not None:
        result.voice = check_voice(output, result.original, settings.voice_threshold,
                                   settings.voice_min_seconds)
        result.sound = check_sound(output, result.original)
    result.metadata, result.metadata_source = _named(output, _metadata, output)
    return result


def _audit_sound(result: AuditResult, settings: AuditSettings) -> AuditResult:
    """The checks of a sound file: its sound against the original's (sample by sample, and
    the speaker), or without the original the speech found in it; and its metadata."""
    from ..media.sound import is_sound, probe_sound
    from ..run.pipeline import is_video
    output, original = result.output, result.original
    result.sound_only = True
    _named(output, probe_sound, output, settings.max_duration)
    if original is not None:
        if is_video(original):
            from ..media.video_reader import probe_video
            _named(original, probe_video, original, settings.max_pixels, settings.max_duration)
        elif is_sound(original):
            _named(original, probe_sound, original, settings.max_duration)
        else:
            raise BlindspotError("the original of a sound file must be a sound file or a video",
                                 str(original))
        result.voice = check_voice(output, original, settings.voice_threshold,
                                   settings.voice_min_seconds)
    result.sound = check_sound(output, original)
    result.metadata, result.metadata_source = _named(output, _metadata, output)
    return result


def _check(result: AuditResult, index: int, out, orig, sampler: _Sampler, thorough: bool,
           m: _Models, s: AuditSettings, video: bool = False) -> None:
    """The checks on frame `index` of the output (and its original), into `result`."""
    result.frames_checked += 1
    result.thorough_checked += thorough
    # dlib's CNN, the slowest detector, on thorough frames; with the original given, sampled,
    # on the first only: every frame's faces are then tested for being left as they were.
    cnn = thorough and (s.every is not None or orig is None or result.thorough_checked == 1)
    found = _faces(out.rgb, index, m, s, thorough, cnn)
    leaks = [f for f in found if f.score >= _LEAK_AT[f.detector](s)]
    reid, attacked, small = [], 0, 0
    if orig is not None:
        faces = None if thorough else sampler.faces(index, orig.rgb)
        reid, attacked, small = _reid(orig.rgb, out.rgb, index, found, m, s, faces)
        leaks += _left_unchanged(out.rgb, orig.rgb, index, sampler, s, video)
    result.leaks += leaks
    result.reid += reid
    result.faces_in_original += attacked
    result.faces_too_small += small
    text_failing: list[TextLeft] = []
    people: list[PersonLeft] = []
    if thorough:
        # Both readers, with the original, where the output was meant to cover text (a FAIL
        # depends on them); otherwise text is only reported: blindspot's reader alone.
        both = "text" in s.cover or "plates" in s.cover
        if not result.text_readers:
            result.text_readers = readers() if both else readers()[:1]
        text = read_left(out.rgb, index, text_rules(s, orig is not None),
                         None if orig is None else orig.rgb, both)
        text_failing = failing(text, s.cover)
        result.text += text
        result.text_failing += text_failing
        if "people" in s.cover:
            people = people_left(out.rgb, index, s.person_threshold)
            result.people += people
    if (leaks or any(r.match for r in reid) or text_failing or people or not result.views) \
            and len(result.views) < s.thumbnails:
        result.views.append(_view(out.rgb, index, s.thumbnail_side))


def text_rules(s: AuditSettings, original: bool) -> Rules:
    """When the text check counts a word as read, with the original or without it
    (AuditSettings' text_* fields)."""
    if original:
        return Rules(pp_ocr=s.text_original_confidence,
                     tesseract=s.text_original_tesseract_confidence,
                     min_chars=s.text_min_chars, similar=s.text_similar)
    return Rules(pp_ocr=s.text_confidence, tesseract=s.text_tesseract_confidence,
                 min_chars=s.text_min_chars, similar=s.text_similar)


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
def _detector(threshold: float, single_pass: bool = False) -> FaceDetector:
    """blindspot's detector: every pass at default settings, or the whole picture only."""
    if single_pass:
        return FaceDetector(DetectorSettings(threshold=threshold, coarse_scale=0.0,
                                             tile_scale=0.0))
    return FaceDetector(DetectorSettings(threshold=threshold))


# ---------------------------------------------------------------------------- frames


class _Still:
    """A decoded photo frame, with the `rgb` attribute of a video frame."""

    __slots__ = ("rgb",)

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb


class _Shown:
    """A video frame as it is displayed, with square pixels (`run.video.displayed`), converted
    on first use: an anamorphic video is attacked as a viewer sees it, as blindspot detected
    on it, not squeezed."""

    __slots__ = ("frame", "_rgb")

    def __init__(self, frame) -> None:
        self.frame = frame
        self._rgb: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            from ..run.video import displayed
            self._rgb = displayed(self.frame)
        return self._rgb


def _frames(path: Path, settings: AuditSettings) -> Iterator:
    """The frames of the photo, animation or video at `path` in order, each with an `rgb`
    attribute (upright RGB as displayed; a video frame converts on first use); errors name
    `path`."""
    from ..run.pipeline import is_video
    try:
        if is_video(path):
            from ..media.video_reader import probe_video, read_frames
            probe_video(path, settings.max_pixels, settings.max_duration)
            yield from map(_Shown, read_frames(path))
        else:
            from ..media.photo_source import read_photo
            yield from map(_Still, read_photo(path, settings.max_pixels).frames)
    except BlindspotError as e:
        e.path = e.path or str(path)
        raise
    except MemoryError:
        raise BlindspotError("out of memory", str(path)) from None


class _Sampler:
    """Which frames get the full checks (module docstring)."""

    def __init__(self, settings: AuditSettings) -> None:
        self.s = settings
        self.boxes: np.ndarray | None = None  # the last scan's faces, in the scanned frame
        self.scanned: tuple[int, Detections] | None = None  # the last scan: frame, faces
        self.suspect = False  # a face left unchanged (or, without the original, found)
        self.checked = -settings.sample_every  # the last frame checked

    def wants(self, index: int, out, orig) -> bool:
        s = self.s
        if s.every is not None:
            return index % s.every == 0
        want = index % s.sample_every == 0
        suspect = self.suspect if orig is None else False
        if index % s.scan_every == 0:
            self.scanned = (index, _scan(orig.rgb if orig is not None else out.rgb, s))
            boxes = self.scanned[1].boxes
            if orig is None:
                suspect = len(boxes) > 0
            elif self.boxes is not None and _moved(self.boxes, boxes):
                want = True  # a face of the original appears, disappears or jumps
            self.boxes = boxes
        if orig is not None and self.boxes is not None and len(self.boxes):
            suspect = _unchanged(out.rgb, orig.rgb, self.boxes, s)
        if suspect and (not self.suspect or index - self.checked >= s.sample_every):
            want = True
        self.suspect = suspect
        if want:
            self.checked = index
        return want

    def faces(self, index: int, orig: np.ndarray) -> np.ndarray:
        """The original's faces at frame `index` for a quick check: the scan's, from
        `original_threshold` up (scanned now if the frame was not)."""
        if self.scanned is None or self.scanned[0] != index:
            self.scanned = (index, _scan(orig, self.s))
        return self.scanned[1].above(self.s.original_threshold).boxes


def _scan(rgb: np.ndarray, s: AuditSettings) -> Detections:
    """The faces of one frame, found cheaply (one pass); boxes in `rgb`'s pixels."""
    small, k = _resized(rgb, min(1.0, (s.scan_max_pixels / _area(rgb)) ** 0.5))
    dets = _detector(s.scan_threshold, True).detect(small)
    return dets.scaled(1 / k, 1 / k)


def _moved(before: np.ndarray, now: np.ndarray) -> bool:
    """Whether a face appeared, disappeared or jumped (no box overlapping it at IoU 0.3)."""
    if len(before) != len(now):
        return True
    if not len(now):
        return False
    iou = iou_matrix(before, now)
    return bool((iou.max(axis=0) < 0.3).any() or (iou.max(axis=1) < 0.3).any())


def _unchanged(out: np.ndarray, orig: np.ndarray, boxes: np.ndarray, s: AuditSettings) -> bool:
    """Whether the middle of any face (8 px and larger) is as in the original, give or take
    what encoding changes."""
    return bool(_unchanged_each(out, orig, boxes, s).any())


def _unchanged_each(out: np.ndarray, orig: np.ndarray, boxes: np.ndarray,
                    s: AuditSettings, min_side: int = 8) -> np.ndarray:
    """For each face (x1, y1, x2, y2 in the original): whether its middle is as in the
    original (faces under `min_side` px: never)."""
    flags = np.zeros(len(boxes), bool)
    if out.shape != orig.shape:
        boxes = boxes * ([out.shape[1] / orig.shape[1], out.shape[0] / orig.shape[0]] * 2)
        orig = cv2.resize(orig, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes).tolist()):
        w, h = x2 - x1, y2 - y1
        if min(w, h) < min_side:
            continue
        xa, xb = max(0, round(x1 + w / 4)), min(out.shape[1], round(x2 - w / 4))
        ya, yb = max(0, round(y1 + h / 4)), min(out.shape[0], round(y2 - h / 4))
        if xb <= xa or yb <= ya:
            continue
        before = orig[ya:yb, xa:xb].astype(np.float32)
        diff = np.abs(out[ya:yb, xa:xb] - before).max(axis=2).mean()
        flags[i] = diff < s.unchanged_ratio * max(2.0, float(before.mean(axis=2).std()))
    return flags


def _left_unchanged(out: np.ndarray, orig: np.ndarray, index: int, sampler: _Sampler,
                    s: AuditSettings, video: bool) -> list[Leak]:
    """The faces of the original left as they were in the output, as leaks (boxes in the
    output's pixels): in a video the scan's faces from `original_threshold`, in a photo what
    blindspot's detector finds from `unchanged_photo_threshold` (faces from 4 px: a photo is
    not re-encoded by a video codec, whose noise needs the 8 px the video scan keeps)."""
    if video:
        boxes = sampler.faces(index, orig)
        dets, min_side = Detections(boxes, np.full(len(boxes), s.original_threshold)), 8
    else:
        dets, min_side = _detector(s.unchanged_photo_threshold).detect(orig), 4
    if not len(dets):
        return []
    sx, sy = out.shape[1] / orig.shape[1], out.shape[0] / orig.shape[0]
    left = []
    for i in np.flatnonzero(_unchanged_each(out, orig, dets.boxes, s, min_side)):
        x1, y1, x2, y2 = dets.boxes[i].tolist()
        left.append(Leak(index, (x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy),
                         "unchanged", float(dets.scores[i])))
    return left


def _named(path: Path, function, *args):
    """`function(*args)`, with a BlindspotError naming `path`."""
    try:
        return function(*args)
    except BlindspotError as e:
        e.path = e.path or str(path)
        raise


def _metadata(path: Path) -> tuple[list[str], str]:
    from ..media.residue import exiftool_available, exiftool_tags, identifying_tags
    if exiftool_available():
        return identifying_tags(exiftool_tags(path)), "exiftool"
    from ..media.sound import is_sound
    from ..run.pipeline import is_video
    if is_video(path):
        from ..media.video_reader import probe_video
        info = probe_video(path, 1 << 62, float("inf"))
        return info.metadata + info.dropped_streams, "PyAV"
    if is_sound(path):
        from ..media.sound import probe_sound
        sound = probe_sound(path, float("inf"))
        return sound.metadata + sound.dropped_streams, "PyAV"
    from ..media.metadata import describe
    from ..media.photo_source import open_image
    with open_image(path, 1 << 62) as image:
        return describe(image), "Pillow"


# ---------------------------------------------------------------------------- attacks

_LEAK_AT = {"blindspot": lambda s: s.threshold, "dlib-hog": lambda s: s.hog_threshold,
            "dlib-cnn": lambda s: s.cnn_threshold}


def _faces(rgb: np.ndarray, index: int, m: _Models, s: AuditSettings, thorough: bool,
           cnn: bool = True) -> list[Leak]:
    """Every face the attacker's detectors find in the output, from the re-identification's
    lower thresholds up (the leak check keeps those at or above its own). A quick check runs
    blindspot's detector once on the whole frame; dlib's CNN runs when `cnn`, on thorough
    checks only."""
    found = []
    dets = _detector(min(s.found_threshold, s.threshold), not thorough).detect(rgb)
    for (x1, y1, x2, y2), score in zip(dets.boxes.tolist(), dets.scores.tolist(), strict=True):
        found.append(Leak(index, (x1, y1, x2 - x1, y2 - y1), "blindspot", score))
    small, k = _resized(rgb, min(2.0, (s.hog_max_pixels / _area(rgb)) ** 0.5))
    rects, scores, _ = m.hog.run(small, 0, min(s.found_hog_threshold, s.hog_threshold))
    for rect, score in zip(rects, scores, strict=True):
        found.append(Leak(index, _xywh(rect, k), "dlib-hog", float(score)))
    if thorough and cnn:
        small, k = _resized(rgb, min(1.0, (s.cnn_max_pixels / _area(rgb)) ** 0.5))
        for face in m.cnn(small, 0):
            found.append(Leak(index, _xywh(face.rect, k), "dlib-cnn", float(face.confidence)))
    return found


def _reid(original: np.ndarray, output: np.ndarray, index: int, found: list[Leak],
          m: _Models, s: AuditSettings, faces: np.ndarray | None = None
          ) -> tuple[list[Reid], int, int]:
    """The attacker's comparisons on one frame, how many faces of the original were attacked
    and how many were too small to be.

    `faces` (x1, y1, x2, y2 in the original) are the original's faces; blindspot's detector
    finds them when None. Each face the attacker `found` in the output that overlaps one of
    them is aligned with landmarks found on the output and embedded; so is the same crop of the
    original with all its faces blacked out (the impostor that says what a covered face gives).
    Prints live only in this function.
    """
    from ..redact import redact
    original, output = np.ascontiguousarray(original), np.ascontiguousarray(output)
    sy, sx = output.shape[0] / original.shape[0], output.shape[1] / original.shape[1]
    if faces is None:
        faces = _detector(s.original_threshold).detect(original).boxes
    sides = np.minimum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]) \
        if len(faces) else np.zeros(0)
    big = faces[sides >= s.reid_min_face]
    small = len(faces) - len(big)
    if not len(big) or not found:
        return [], len(big), small
    in_output = big * [sx, sy, sx, sy]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (f.box for f in found)])
    overlap = iou_matrix(in_output, boxes) >= s.reid_overlap
    if not overlap.any():
        return [], len(big), small
    dlib = m.dlib

    def rect(box) -> object:
        return dlib.rectangle(*(round(v) for v in box))

    def embed(rgb: np.ndarray, box) -> np.ndarray:
        return np.array(m.recognizer.compute_face_descriptor(rgb, m.landmarks(rgb, rect(box))))

    references = [embed(original, box) for box in big]
    blacked = redact(original.copy(), Detections(faces, np.ones(len(faces))), "solid", 1.6)
    if blacked.shape != output.shape:
        blacked = cv2.resize(blacked, (output.shape[1], output.shape[0]))
    results = []
    for i, reference in enumerate(references):
        others = [float(np.linalg.norm(r - reference)) for j, r in enumerate(references) if j != i]
        tried = []
        for j in np.flatnonzero(overlap[i]):
            distance = float(np.linalg.norm(embed(output, boxes[j]) - reference))
            impostor = min([float(np.linalg.norm(embed(blacked, boxes[j]) - reference)),
                            *others])
            match = distance < s.match_distance and distance < impostor - s.impostor_margin
            tried.append(Reid(index, found[j].box, found[j].detector, distance, impostor, match))
        if tried:
            results.append(min(tried, key=lambda r: (not r.match, r.distance)))
    del references, blacked
    return results, len(big), small


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
