"""The Python API: detect and cover faces in arrays and files, and strip metadata from files.

source (decode) → detect → redact → sink (encode pixels only), with atomic output files.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from . import strip
from .atomic import atomic_output
from .detect.faces import DetectorSettings, FaceDetector
from .detections import Detections, count_faces
from .errors import BlindspotError
from .metadata import describe
from .options import Options
from .photo import Photo
from .redact import redact
from .sink import PhotoWriter, write_photo, writer_for
from .source import exif_orientation, open_image, read_photo
from .video import anonymize_video, detect_video, render_video
from .video_io import VIDEO_EXTENSIONS, probe_video


@dataclass
class FileResult:
    """What happened to one file."""

    source: Path
    output: Path | None
    faces: int | None = None  # None: faces were not looked for (`clean`)
    # Weak boxes (photo) or tracks (video) covered as well, not counted as faces (count_faces)
    uncertain: int = 0
    frames: int = 1
    metadata_removed: list[str] = field(default_factory=list)
    detections: list[Detections] = field(default_factory=list)  # one per frame

    def summary(self) -> str:
        removed = ", ".join(self.metadata_removed) if self.metadata_removed else "none found"
        parts = []
        if self.faces is not None:
            covered = f"{self.faces} face{'s' if self.faces != 1 else ''} covered"
            if self.uncertain:
                covered += f" (+{self.uncertain} uncertain, covered too)"
            parts.append(covered)
        if self.frames > 1:
            parts.append(f"{self.frames} frames")
        parts.append(f"metadata removed: {removed}")
        return f"{self.source} -> {self.output}: {'; '.join(parts)}"


@lru_cache(maxsize=4)
def _detector(settings: DetectorSettings) -> FaceDetector:
    return FaceDetector(settings)


def detect_image(rgb: np.ndarray, options: Options | None = None) -> Detections:
    """The face boxes `anonymize_image` would cover in `rgb` (H×W×3 uint8), before the margin."""
    options = options or Options()
    return _detector(options.detector_settings()).detect(_check_array(rgb))


def anonymize_image(rgb: np.ndarray, options: Options | None = None
                    ) -> tuple[np.ndarray, Detections]:
    """A copy of `rgb` (H×W×3 uint8) with every face found covered, and the faces found."""
    options = options or Options()
    detections = detect_image(rgb, options)
    out = redact(np.array(rgb, copy=True), detections, options.mode, options.mask_scale)
    return out, detections


def anonymize_file(path: str | os.PathLike, out: str | os.PathLike,
                   options: Options | None = None,
                   detections: list[Detections] | None = None,
                   modes: list[list[str]] | None = None) -> FileResult:
    """Write `out`: the photo or video at `path` with every face covered and no metadata.

    `detections`, one per frame in displayed pixels (as `detect_file` returns them, edited
    by a reviewer, say), replaces detection: exactly those boxes are covered. For a photo,
    `modes` (one list per frame, one mode per box of `detections`) picks each face's mode
    instead of `options.mode`."""
    options = options or Options()
    path, out = Path(path), Path(out)
    if modes is not None and (detections is None or len(modes) != len(detections)):
        raise ValueError("modes need detections, one list of modes per frame")
    with _errors_name(path):
        _refuse_input_as_output(path, out)
        if is_video(path):
            return _anonymize_video(path, out, options, detections, modes)
        photo = read_photo(path, options.max_pixels, options.max_frames)
        writer = writer_for(out, photo.format)
        _check_frame_count(detections, len(photo.frames))
        result = FileResult(path, out, frames=len(photo.frames),
                            metadata_removed=photo.metadata)
        for index, frame in enumerate(photo.frames):
            if detections is None:
                covered, found = anonymize_image(frame, options)
            else:
                found = detections[index]
                covered = redact(np.array(frame, copy=True), found, options.mode,
                                 options.mask_scale,
                                 modes=None if modes is None else modes[index])
            photo.frames[index] = covered
            result.detections.append(found)
        result.faces, result.uncertain = count_faces(result.detections)
        _write(photo, out, writer, options.overwrite)
        return result


def _anonymize_video(path: Path, out: Path, options: Options,
                     detections: list[Detections] | None,
                     modes: list[list[str]] | None = None) -> FileResult:
    if detections is None:
        detector = _detector(options.video_detector_settings())
        info, boxes = anonymize_video(path, out, options, detector)
    else:
        info = probe_video(path, options.max_pixels, options.max_duration)
        boxes = list(detections)
        # render_video refuses a frame count other than len(boxes)
        render_video(path, out, options, boxes, modes)
    faces, uncertain = count_faces(boxes)
    return FileResult(path, out, faces=faces, uncertain=uncertain, frames=len(boxes),
                      detections=boxes, metadata_removed=info.metadata + info.dropped_streams)


def is_video(path: Path) -> bool:
    """Whether blindspot treats `path` as a video (by its extension)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def detect_file(path: str | os.PathLike, options: Options | None = None) -> list[Detections]:
    """The face boxes of every frame of the photo or video at `path`, in displayed pixels
    (for a video: after tracking, the boxes that would be covered)."""
    options = options or Options()
    path = Path(path)
    with _errors_name(path):
        if is_video(path):
            return detect_video(path, options, _detector(options.video_detector_settings()))[1]
        photo = read_photo(path, options.max_pixels, options.max_frames)
        return [detect_image(frame, options) for frame in photo.frames]


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
        raise BlindspotError(f"{len(detections)} frames of boxes given for {frames} frames")


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
