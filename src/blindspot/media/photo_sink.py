"""Photo sink: encode a `Photo`'s pixels into a file, and nothing else.

Every output image is built from arrays, so no EXIF, XMP, IPTC, ICC profile, comment or
thumbnail of the source can reach it: pixels are in sRGB and written without a profile.
One `PhotoWriter` per format, chosen by the output file's extension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image

from ..errors import BlindspotError
from .photo import Photo

pillow_heif.register_heif_opener()

JPEG_QUALITY = 92
WEBP_QUALITY = 90
HEIF_QUALITY = 90


@dataclass(frozen=True)
class PhotoWriter:
    format: str
    extensions: tuple[str, ...]
    save: Callable[[list[Image.Image], BinaryIO, Photo], None]
    alpha: bool = True  # can carry transparency


def _save_jpeg(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    images[0].save(fp, "JPEG", quality=JPEG_QUALITY, optimize=True)


def _save_png(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    images[0].save(fp, "PNG", optimize=False, compress_level=6)


def _save_webp(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    options = {"lossless": True} if photo.lossless else {"quality": WEBP_QUALITY}
    if len(images) > 1:
        options.update(save_all=True, append_images=images[1:], duration=_durations(photo),
                       loop=photo.loop or 0)
    images[0].save(fp, "WEBP", method=4, **options)


def _save_gif(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    options = {}
    if len(images) > 1:
        options = dict(save_all=True, append_images=images[1:], duration=_durations(photo),
                       loop=photo.loop or 0, disposal=2)
    images[0].save(fp, "GIF", **options)


def _save_tiff(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    options = {"save_all": True, "append_images": images[1:]} if len(images) > 1 else {}
    images[0].save(fp, "TIFF", compression="tiff_adobe_deflate", **options)


def _save_bmp(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    images[0].save(fp, "BMP")


def _save_heif(images: list[Image.Image], fp: BinaryIO, photo: Photo) -> None:
    images[0].save(fp, "HEIF", quality=HEIF_QUALITY)


def _durations(photo: Photo) -> list[int]:
    durations = photo.durations or [100] * len(photo.frames)
    return [max(10, d) for d in durations]


WRITERS = (
    PhotoWriter("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), _save_jpeg, alpha=False),
    PhotoWriter("PNG", (".png",), _save_png),
    PhotoWriter("WEBP", (".webp",), _save_webp),
    PhotoWriter("GIF", (".gif",), _save_gif),
    PhotoWriter("TIFF", (".tif", ".tiff"), _save_tiff),
    PhotoWriter("BMP", (".bmp", ".dib"), _save_bmp, alpha=False),
    PhotoWriter("HEIF", (".heic", ".heif", ".hif"), _save_heif),
)
PHOTO_EXTENSIONS = frozenset(ext for w in WRITERS for ext in w.extensions)


def writer_for(path: Path, fallback_format: str) -> PhotoWriter:
    """The writer for `path`'s extension, else the one for `fallback_format`."""
    ext = Path(path).suffix.lower()
    for writer in WRITERS:
        if ext in writer.extensions:
            return writer
    for writer in WRITERS:
        if writer.format == fallback_format:
            return writer
    raise BlindspotError(f"cannot write {fallback_format} images")


def to_images(photo: Photo, with_alpha: bool) -> list[Image.Image]:
    """Fresh Pillow images from the photo's arrays: no `info`, so no metadata to carry."""
    images = []
    for rgb, alpha in zip(photo.frames, photo.alphas, strict=True):
        if photo.grey and alpha is None:
            images.append(Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L"))
        elif alpha is not None and with_alpha:
            images.append(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
        elif alpha is not None:
            images.append(Image.fromarray(_flatten(rgb, alpha), "RGB"))
        else:
            images.append(Image.fromarray(np.ascontiguousarray(rgb), "RGB"))
    return images


def _flatten(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over white, for formats without transparency."""
    a = alpha[..., None].astype(np.float32) / 255
    return np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8)


def write_photo(photo: Photo, fp: BinaryIO, writer: PhotoWriter) -> None:
    """Encode `photo` into `fp` with `writer`."""
    images = to_images(photo, writer.alpha)
    try:
        writer.save(images, fp, photo)
    except (OSError, ValueError) as e:
        raise BlindspotError(f"cannot write {writer.format}: {e}") from None
