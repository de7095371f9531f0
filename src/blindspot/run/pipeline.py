"""The Python API: detect and cover faces (and plates, text, people) in arrays and files, and strip
metadata from files.

source (decode) → detect → redact → sink (encode pixels only), with atomic output files.
Detection finds every kind the run's `Options.cover` needs; each box then gets its mode
(`Options.mode_for` its kind, or the reviewer's choice): a box whose mode is `KEEP` (text
found while only plates are covered) is left as it is and counted as left visible.

Over 400 lines, on purpose: every entry point of the API (photos, videos, sounds, `clean`) and
the few helpers only they use, in one place to read; a video's passes are in `video.py`, the
reading and writing of files in `media/`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..audio.revoice import Line
from ..audio.speech import Span
from ..audio.voices import Speech, Voicing, find_speech, voicing
from ..detect.detector import KindsDetector
from ..detect.faces import DetectorSettings, FaceDetector
from ..detect.people import PeopleDetector, PeopleSettings
from ..detect.support import FaceSupport
from ..detect.text import TextDetector, TextSettings
from ..detections import KINDS, Detections, count_kind
from ..errors import UNSUPPORTED, BlindspotError
from ..media import strip
from ..media.atomic import atomic_output
from ..media.metadata import describe
from ..media.photo import Photo
from ..media.photo_sink import PhotoWriter, write_photo, writer_for
from ..media.photo_source import exif_orientation, open_image, read_photo
from ..media.sound import is_sound, probe_sound, transcode_sound
from ..media.video_reader import VIDEO_EXTENSIONS, probe_video
from ..options import KEEP, Options
from ..redact import redact
from ..wording import count
from .video import anonymize_video, detect_video, render_video


@dataclass
class FileResult:
    """What happened to one file."""

    source: Path
    output: Path | None
    faces: int | None = None  # None: faces were not looked for (`clean`)
    # Weak boxes (photo) or tracks (video) of faces and people covered as well, not counted
    # (`count_kind`)
    uncertain: int = 0
    frames: int = 1
    metadata_removed: list[str] = field(default_factory=list)
    # The boxes covered, one Detections per frame (boxes left visible are not among them).
    detections: list[Detections] = field(default_factory=list)
    # Per kind covered, how many were (faces: as `faces`), and per kind found but not
    # covered, how many were left visible: tracks in a video, boxes in a photo
    # ({"face": 2, "plate": 1}, {"text": 12}).
    covered: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    # Video: the speech found in the sound (None: not looked for) and what was done to it.
    speech: Speech | None = None
    speech_edits: list[tuple[Span, str]] = field(default_factory=list)  # each span's edit
    # Revoiced spans: the lines the new voices say (and those muted for their language).
    lines: list[Line] = field(default_factory=list)
    squeezed: int = 0  # of them, said faster than the new voice's fastest pace, to fit

    def summary(self) -> str:
        removed = ", ".join(self.metadata_removed) if self.metadata_removed else "none found"
        parts = []
        if self.faces is not None:
            counts = [_plural(n, kind) for kind, n in self.covered.items()] \
                or [_plural(self.faces, "face")]
            covered = f"{', '.join(counts)} covered"
            if self.uncertain:
                covered += f" (+{self.uncertain} uncertain, covered too)"
            parts.append(covered)
            if self.left.get("text"):
                parts.append(f"{_plural(self.left['text'], 'text')} left: --cover text")
        if self.speech_edits:
            parts.append(self._speech_summary())
        elif self.speech is not None and self.speech.duration:
            parts.append(f"no speech found in {self.speech.duration:.0f} s of sound")
        if self.frames > 1:
            parts.append(f"{self.frames} frames")
        parts.append(f"metadata removed: {removed}")
        return f"{self.source} -> {self.output}: {'; '.join(parts)}"

    def _speech_summary(self) -> str:
        """"speech 42 s kept: …", or what was done to it ("speech 40 s muted, 2 s kept")."""
        seconds: dict[str, float] = {}
        for span, voice in self.speech_edits:
            seconds[voice] = seconds.get(voice, 0.0) + span.duration
        if set(seconds) == {"keep"}:
            return (f"speech {seconds['keep']:.0f} s kept: voices identify people; "
                    "--voice mute or disguise")
        done = {"mute": "muted", "disguise": "disguised", "revoice": "revoiced", "keep": "kept"}
        text = "speech " + ", ".join(f"{s:.0f} s {done[v]}" for v, s in seconds.items())
        spoken = [line for line in self.lines if line.edit == "revoice"]
        if spoken:
            voices = len({line.speaker for line in spoken})
            text += f" ({count(voices, 'new voice')}"
            if self.squeezed:
                text += f"; {count(self.squeezed, 'line')} compressed in time to fit"
            text += ")"
        muted = [line for line in self.lines if line.edit == "mute"]
        if muted:
            heard = ", ".join(sorted({line.language or "?" for line in muted}))
            seconds = sum(line.end - line.start for line in muted)
            text += (f"; {seconds:.0f} s not in English muted (heard as {heard}): "
                     "no voice speaks it")
        return text


_NOUNS = {"face": "face", "plate": "plate", "text": "text region", "person": "person"}


def _plural(n: int, kind: str) -> str:
    return count(n, _NOUNS[kind], "people" if kind == "person" else None)


@lru_cache(maxsize=4)
def _detector(settings: DetectorSettings) -> FaceDetector:
    return FaceDetector(settings)


@lru_cache(maxsize=2)
def _text_detector(settings: TextSettings) -> TextDetector:
    return TextDetector(settings)


@lru_cache(maxsize=2)
def _people_detector(settings: PeopleSettings) -> PeopleDetector:
    return PeopleDetector(settings)


def _support(options: Options, faces: FaceDetector | None) -> FaceSupport | None:
    """The judge of weak face boxes (None without faces): the face model's second look, and
    the people detector on the whole picture where people are not covered (else their
    boxes)."""
    if faces is None:
        return None
    return FaceSupport(options.support_settings(), faces.model,
                       _people_detector(options.support_people_settings()))


def photo_detector(options: Options) -> KindsDetector:
    """The detector of photos (and of the video frames where the thorough one runs)."""
    faces = _detector(options.detector_settings()) if "face" in options.covered_kinds() \
        else None
    text = _text_detector(options.text_settings()) if options.finds_text() else None
    people = _people_detector(options.people_settings()) if options.finds_people() else None
    return KindsDetector(faces, text, people, _support(options, faces))


def video_detectors(options: Options) -> tuple[KindsDetector, KindsDetector | None]:
    """The video detectors: the light one (most frames of the cadence: faces on the whole
    frame, text on the whole frame at most `VIDEO_MAX_PIXELS`) and the thorough one (every
    `full_every`-th frame, as for photos; None: never), each sharing one model per kind. Their
    weak face boxes that nothing supports are marked tentative (`Detections.tentative`): only
    tracking gives them to the render."""
    faces = text = people = thorough_faces = thorough_text = thorough_people = None
    if "face" in options.covered_kinds():
        faces = _detector(options.video_detector_settings())
        thorough_faces = FaceDetector(options.detector_settings(), faces.model)
    if options.finds_text():
        text = _text_detector(options.video_text_settings())
        thorough_text = TextDetector(options.text_settings(), text.model)
    if options.finds_people():
        people = _people_detector(options.video_people_settings())
        thorough_people = PeopleDetector(options.people_settings(), people.model)
    # A weak face box nothing supports in its frame is marked, not dropped: tracking keeps it
    # where a supported face overlaps it a few frames before or after (`track.py`).
    thorough = KindsDetector(thorough_faces, thorough_text, thorough_people,
                             _support(options, faces), tentative=True) \
        if options.full_every else None
    return KindsDetector(faces, text, people, _support(options, faces), tentative=True), \
        thorough


def detect_image(rgb: np.ndarray, options: Options | None = None) -> Detections:
    """The boxes `anonymize_image` finds in `rgb` (H×W×3 uint8), before the margin: every kind
    `options.cover` looks for (text found while only plates are covered included; its mode is
    `KEEP`)."""
    options = options or Options()
    return photo_detector(options).detect(_check_array(rgb))


def anonymize_image(rgb: np.ndarray, options: Options | None = None
                    ) -> tuple[np.ndarray, Detections]:
    """A copy of `rgb` (H×W×3 uint8) with everything `options.cover` asks for covered, and the
    boxes covered."""
    options = options or Options()
    found = detect_image(rgb, options)
    (covered,), (modes,), _ = _split([found], [box_modes(found, options)])
    out = redact(np.array(rgb, copy=True), covered, options.mode, options.mask_scale,
                 modes=modes)
    return out, covered


def box_modes(dets: Detections, options: Options) -> list[str]:
    """The mode of each box of `dets` by its kind (`Options.mode_for`)."""
    return [options.mode_for(kind) for kind in dets.kind_names()]


def _split(frames: list[Detections], modes: list[list[str]]
           ) -> tuple[list[Detections], list[list[str]], list[Detections]]:
    """(the boxes to cover, their modes, the boxes left visible) of each frame."""
    covered, covered_modes, left = [], [], []
    for dets, frame_modes in zip(frames, modes, strict=True):
        keep = np.array([m == KEEP for m in frame_modes], bool).reshape(-1)
        covered.append(dets.select(~keep))
        covered_modes.append([m for m in frame_modes if m != KEEP])
        left.append(dets.select(keep))
    return covered, covered_modes, left


def _counted(result: FileResult, covered: list[Detections], left: list[Detections],
             options: Options) -> FileResult:
    """`result` with its boxes and counts: faces (and uncertain ones) and, per kind that
    `options` covers or a reviewer chose to cover, how many were covered; per kind found but
    not covered, how many were left visible."""
    result.detections = covered
    counts = {k: count_kind(covered, k) for k in KINDS}
    result.faces = counts["face"][0]
    result.uncertain = sum(uncertain for _, uncertain in counts.values())
    kinds = [k for k in KINDS if k in options.covered_kinds() or sum(counts[k])]
    result.covered = {k: counts[k][0] for k in kinds}
    result.left = {k: n for k in KINDS if (n := sum(count_kind(left, k)))}
    return result


def anonymize_file(path: str | os.PathLike, out: str | os.PathLike,
                   options: Options | None = None,
                   detections: list[Detections] | None = None,
                   modes: list[list[str]] | None = None,
                   speech: list[tuple[Span, str]] | None = None,
                   lines: list[Line] | None = None) -> FileResult:
    """Write `out`: the photo or video at `path` with every face covered, or the sound file at
    `path` with its speech as `options.voice_for` it says, and no metadata.

    `detections`, one per frame in displayed pixels (as `detect_file` returns them, edited
    by a reviewer, say), replaces detection. `modes` (one list per frame, one mode per box of
    `detections`) picks each box's mode instead of `options.mode_for` its kind; `KEEP` leaves
    a box visible. For a video or a sound file, `speech` (spans of its sound in seconds, each
    with "keep", "mute", "disguise" or "revoice") replaces speech detection and
    `options.voice`; `lines` (with `speech`: what the new voices say in the revoiced spans, as
    `FileResult.lines` gave them, edited by a reviewer, say) replaces their transcription."""
    options = options or Options()
    path, out = Path(path), Path(out)
    if modes is not None and (detections is None or len(modes) != len(detections)):
        raise ValueError("modes need detections, one list of modes per frame")
    if lines is not None and speech is None:
        raise ValueError("lines need speech: the spans they are said in")
    with _errors_name(path):
        _refuse_input_as_output(path, out)
        if is_video(path):
            return _anonymize_video(path, out, options, detections, modes, speech, lines)
        if is_sound(path):
            _check_frame_count(detections, 0)
            return _anonymize_sound(path, out, options, speech, lines)
        photo = read_photo(path, options.max_pixels, options.max_frames)
        writer = writer_for(out, photo.format)
        _check_frame_count(detections, len(photo.frames))
        result = FileResult(path, out, frames=len(photo.frames),
                            metadata_removed=photo.metadata)
        if detections is None:
            detector = photo_detector(options)
            detections = [detector.detect(frame) for frame in photo.frames]
        if modes is None:
            modes = [box_modes(dets, options) for dets in detections]
        covered, covered_modes, left = _split(list(detections), modes)
        for index, frame in enumerate(photo.frames):
            photo.frames[index] = redact(np.array(frame, copy=True), covered[index],
                                         options.mode, options.mask_scale,
                                         modes=covered_modes[index])
        _counted(result, covered, left, options)
        _write(photo, out, writer, options.overwrite)
        return result


def _anonymize_video(path: Path, out: Path, options: Options,
                     detections: list[Detections] | None,
                     modes: list[list[str]] | None = None,
                     speech: list[tuple[Span, str]] | None = None,
                     lines: list[Line] | None = None) -> FileResult:
    info = probe_video(path, options.max_pixels, options.max_duration)
    found_speech = Speech([span for span, _ in speech]) if speech is not None else None
    voiced: Voicing | None = None

    def speech_edits() -> Voicing | None:
        nonlocal speech, found_speech, voiced
        if not options.keep_audio:
            return None
        if speech is None and info.audio_streams:
            found_speech = find_speech(path)
            speech = [(span, options.voice_for(False)) for span in found_speech.spans]
        if voiced is None and speech is not None:
            voiced = voicing(path, speech, lines)
        return voiced

    def cover(dets: Detections) -> tuple[Detections, list[str]]:
        (covered,), (frame_modes,), _ = _split([dets], [box_modes(dets, options)])
        return covered, frame_modes

    if detections is None:  # detection, tracking and the render at once
        found = anonymize_video(path, out, options, info, *video_detectors(options), cover,
                                speech_edits)
    else:
        found = list(detections)
    if modes is None:
        modes = [box_modes(dets, options) for dets in found]
    covered, covered_modes, left = _split(found, modes)
    if detections is not None:
        # render_video refuses a frame count other than len(covered)
        render_video(path, out, options, covered, covered_modes, speech_edits())
    result = FileResult(path, out, frames=len(covered),
                        metadata_removed=info.metadata + info.dropped_streams,
                        speech=found_speech, speech_edits=speech or [],
                        lines=voiced.lines if voiced is not None else [],
                        squeezed=voiced.count_squeezed() if voiced is not None else 0)
    return _counted(result, covered, left, options)


def _anonymize_sound(path: Path, out: Path, options: Options,
                     speech: list[tuple[Span, str]] | None = None,
                     lines: list[Line] | None = None) -> FileResult:
    """A sound file: its speech found (unless given) and edited, every sample encoded anew."""
    if not options.keep_audio:
        raise BlindspotError("--no-audio would leave nothing of a sound file: use --voice mute")
    info = probe_sound(path, options.max_duration)
    if speech is None:
        found = find_speech(path)
        speech = [(span, options.voice_for(True)) for span in found.spans]
    else:
        found = Speech([span for span, _ in speech], info.duration)
    voiced = voicing(path, speech, lines)
    with atomic_output(out, options.overwrite) as f:
        seconds = transcode_sound(path, f, out.suffix, voiced.editor)
    found.duration = seconds
    return FileResult(path, out, frames=0, metadata_removed=info.metadata + info.dropped_streams,
                      speech=found, speech_edits=speech, lines=voiced.lines,
                      squeezed=voiced.count_squeezed())


def is_video(path: Path) -> bool:
    """Whether blindspot treats `path` as a video (by its extension)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def detect_file(path: str | os.PathLike, options: Options | None = None) -> list[Detections]:
    """The boxes of every frame of the photo or video at `path`, in displayed pixels, of every
    kind `options.cover` looks for (for a video: after tracking). Boxes of a kind found but not
    covered (`Options.mode_for` is `KEEP`) are among them."""
    options = options or Options()
    path = Path(path)
    with _errors_name(path):
        if is_video(path):
            return detect_video(path, options, *video_detectors(options))[1]
        photo = read_photo(path, options.max_pixels, options.max_frames)
        detector = photo_detector(options)
        return [detector.detect(frame) for frame in photo.frames]


def detect_speech(path: str | os.PathLike, options: Options | None = None) -> list[Span]:
    """The speech spans (seconds) of the sound of the sound file or video at `path`, as
    `anonymize_file` finds them before editing them."""
    options = options or Options()
    path = Path(path)
    with _errors_name(path):
        if is_sound(path):
            probe_sound(path, options.max_duration)  # refuses a video named .mp3, say
        elif is_video(path):
            probe_video(path, options.max_pixels, options.max_duration)
        else:
            raise BlindspotError(UNSUPPORTED)
        return find_speech(path).spans


def clean_file(path: str | os.PathLike, out: str | os.PathLike,
               options: Options | None = None) -> FileResult:
    """Write `out`: the image at `path` with its metadata removed and its pixels as they are.

    JPEG, PNG, WebP and GIF are rewritten at the container level (no re-encoding); other
    formats, and pictures whose EXIF orientation must be applied, are decoded and re-encoded
    (losslessly for TIFF, BMP, PNG and lossless WebP).
    """
    options = options or Options()
    path, out = Path(path), Path(out)
    with _errors_name(path):
        _refuse_input_as_output(path, out)
        image = open_image(path, options.max_pixels)
        fmt = "JPEG" if image.format == "MPO" else image.format
        orientation = exif_orientation(image)
        removed = describe(image)
        image.close()
        writer = writer_for(out, fmt)
        same_container = fmt in strip.SUPPORTED and writer.format == fmt
        if same_container and (orientation == 1 or fmt == "JPEG"):
            data = _read_bytes(path)
            try:
                cleaned = strip.strip_metadata(data, fmt)
            except strip.StripError as e:
                raise BlindspotError(f"cannot clean: {e}") from None
            if fmt == "JPEG" and orientation != 1:
                cleaned = _with_orientation(cleaned, orientation)
            _verify_decodes(cleaned)
            with atomic_output(out, options.overwrite) as f:
                f.write(cleaned)
            return FileResult(path, out, metadata_removed=removed)
        photo = read_photo(path, options.max_pixels, options.max_frames)
        photo.lossless = photo.lossless or fmt != writer.format
        _write(photo, out, writer, options.overwrite)
        return FileResult(path, out, frames=len(photo.frames), metadata_removed=photo.metadata)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise BlindspotError(f"cannot read: {e.strerror or e}") from None


def _verify_decodes(data: bytes) -> None:
    """Refuse cleaned bytes that no longer decode."""
    try:
        with Image.open(io.BytesIO(data)) as cleaned:
            cleaned.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise BlindspotError(f"cannot clean: the stripped file does not decode ({e})") from None


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert a minimal EXIF segment that holds only the orientation, right after SOI."""
    exif = Image.Exif()
    exif[0x0112] = int(orientation)
    payload = exif.tobytes()
    if not payload.startswith(b"Exif\x00\x00"):
        payload = b"Exif\x00\x00" + payload
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def _write(photo: Photo, out: Path, writer: PhotoWriter, overwrite: bool) -> None:
    with atomic_output(out, overwrite) as f:
        write_photo(photo, f, writer)


def _refuse_input_as_output(path: Path, out: Path) -> None:
    if out.exists() and path.exists() and os.path.samefile(path, out):
        raise BlindspotError("output would overwrite the input; choose another output")


def _check_frame_count(detections: list[Detections] | None, frames: int) -> None:
    if detections is not None and len(detections) != frames:
        raise BlindspotError(f"boxes given for {count(len(detections), 'frame')}, the file "
                            f"has {count(frames, 'frame')}")


def _check_array(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    return rgb


class _errors_name:
    """Attach the file's name to a BlindspotError raised inside."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, tb) -> bool:
        if isinstance(error, BlindspotError) and error.path is None:
            error.path = str(self.path)
        elif isinstance(error, MemoryError):
            raise BlindspotError("out of memory", str(self.path)) from None
        return False
