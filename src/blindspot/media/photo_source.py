"""Photo source: decode an image file into an upright, sRGB `Photo`.

EXIF orientation is applied, colour is converted to sRGB through the embedded ICC profile,
16-bit, CMYK, palette, greyscale and alpha images become 8-bit RGB (+ alpha), and every frame
of an animation or multi-page file is read. Nothing but pixels and timing is kept.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageSequence, UnidentifiedImageError

from ..errors import UNSUPPORTED, BlindspotError
from .metadata import describe
from .photo import Photo

pillow_heif.register_heif_opener()

# Only these decoders ever see an input: fewer parsers, fewer ways in for a hostile file.
# (MPO files open through the JPEG decoder; "MPO" has no opener of its own in Pillow, and
# naming it here made `Image.open` fail with a KeyError for every non-JPEG file.)
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# What Pillow's decoders raise on a damaged or hostile file, besides OSError (fuzz/fuzz.py
# found IndexError and struct.error in its GIF and TIFF readers): a one-line error, not a bug.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                  ZeroDivisionError, struct.error, MemoryError)


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open `path` with one of `PHOTO_FORMATS`, refusing images over `max_pixels`."""
    _refuse_special(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=PHOTO_FORMATS)
    except FileNotFoundError:
        raise BlindspotError("no such file") from None
    except IsADirectoryError:
        raise BlindspotError("is a folder") from None
    except PermissionError:
        raise BlindspotError("permission denied") from None
    except UnidentifiedImageError:
        raise BlindspotError(UNSUPPORTED) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BlindspotError("image too large (decompression bomb guard)") from None
    except _DECODE_ERRORS as e:
        raise BlindspotError(f"cannot read image: {_reason(e)}") from None
    w, h = image.size
    if w < 1 or h < 1:
        raise BlindspotError("image has no pixels")
    if w * h > max_pixels:
        raise BlindspotError(f"image too large: {w}×{h} px is over the limit of "
                             f"{max_pixels:,} px")
    if image.format == "PNG":
        try:
            _check_png(path, w, h)
        except BaseException:
            image.close()
            raise
    return image


def _refuse_special(path: Path) -> None:
    """Refuse a pipe, device or socket: reading one could block forever or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # Image.open says why, in its own words
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BlindspotError("not a regular file (a pipe, device or socket): not read")


def _check_png(path: Path, width: int, height: int) -> None:
    """Refuse a PNG that is truncated, fails a chunk CRC, or whose image data is corrupt.

    Pillow skips the CRC of the image data and stops inflating it once it has enough bytes,
    so a damaged PNG would otherwise decode, without an error, into a partly wrong picture.
    Inflating the whole stream checks its Adler-32 checksum as well.
    """
    limit = 8 * width * height + 8 * height + 64  # 16-bit RGBA, filter bytes, interlacing
    inflater, inflated = zlib.decompressobj(), 0
    try:
        with open(path, "rb") as f:
            left = os.fstat(f.fileno()).st_size - len(f.read(8))
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise BlindspotError("cannot read image: PNG file is truncated")
                length, kind = struct.unpack(">I4s", head)
                left -= 12 + length
                if left < 0:
                    raise BlindspotError("cannot read image: PNG file is truncated")
                crc = zlib.crc32(kind)
                while length:
                    piece = f.read(min(length, 1 << 20))
                    if not piece:  # the file shrank while being read
                        raise BlindspotError("cannot read image: PNG file is truncated")
                    length -= len(piece)
                    crc = zlib.crc32(piece, crc)
                    while kind == b"IDAT" and piece and not inflater.eof:
                        inflated += len(inflater.decompress(piece, 1 << 20))
                        piece = inflater.unconsumed_tail
                        if inflated > limit:
                            raise BlindspotError("cannot read image: PNG image data is corrupt")
                if f.read(4) != struct.pack(">I", crc):
                    raise BlindspotError(f"cannot read image: PNG {kind.decode('latin-1')} "
                                         "chunk is corrupt (bad CRC)")
                if kind == b"IEND":
                    break
        inflated += len(inflater.flush())  # output zlib held back at the last limit
    except zlib.error:
        raise BlindspotError("cannot read image: PNG image data is corrupt") from None
    except OSError as e:
        raise BlindspotError(f"cannot read: {e.strerror or e}") from None
    if not inflater.eof:
        raise BlindspotError("cannot read image: PNG image data is incomplete or corrupt")


def read_photo(path: Path, max_pixels: int = 150_000_000, max_frames: int = 2_000) -> Photo:
    """Decode every frame of the image at `path`."""
    image = open_image(path, max_pixels)
    try:
        return _decode(image, max_frames)
    except BlindspotError:
        raise
    except Image.DecompressionBombError:  # a later frame larger than the first
        raise BlindspotError("image too large (decompression bomb guard)") from None
    except _DECODE_ERRORS as e:
        raise BlindspotError(f"cannot decode image: {_reason(e)}") from None
    finally:
        image.close()


def _decode(image: Image.Image, max_frames: int) -> Photo:
    fmt = "JPEG" if image.format == "MPO" else image.format
    metadata = describe(image)
    n_frames = getattr(image, "n_frames", 1) if fmt != "JPEG" else 1
    if n_frames > max_frames:
        raise BlindspotError(f"{n_frames} frames is over the limit of {max_frames}")
    orientation = exif_orientation(image)
    frames, alphas, durations = [], [], []
    grey = True
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index >= n_frames:
            break
        frame.load()
        rgb, alpha, is_grey = _to_rgb(frame, image.info.get("icc_profile"))
        if orientation != 1:
            rgb, alpha = _orient(rgb, orientation), _orient(alpha, orientation)
        frames.append(rgb)
        alphas.append(alpha)
        durations.append(int(frame.info.get("duration", image.info.get("duration", 0)) or 0))
        grey &= is_grey
    if orientation != 1:
        metadata.append("orientation (applied)")
    animated = len(frames) > 1 and fmt in ("GIF", "WEBP")
    return Photo(
        frames=frames, format=fmt, alphas=alphas,
        durations=durations if animated else None,
        loop=image.info.get("loop", 0) if animated else None,
        grey=grey, lossless=_is_lossless(image, fmt), metadata=metadata,
    )


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1–8) of `image`; 1 when absent, unreadable or out of range."""
    try:
        value = image.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, struct.error):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _is_lossless(image: Image.Image, fmt: str) -> bool:
    if fmt == "WEBP":
        fp = getattr(image, "fp", None)
        try:
            fp.seek(12)
            return fp.read(4) in (b"VP8L",) or b"VP8L" in fp.read(64)
        except (AttributeError, OSError, ValueError):
            return False
    return fmt in ("PNG", "TIFF", "BMP", "GIF")


def _to_rgb(frame: Image.Image, icc: bytes | None) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """An 8-bit sRGB array, the alpha channel if any, and whether the frame is greyscale."""
    mode = frame.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_grey(frame), None, True
    has_alpha = "A" in mode or "transparency" in frame.info
    if mode == "P" or mode == "PA":
        frame = frame.convert("RGBA" if has_alpha else "RGB")
    if icc and frame.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        frame = _to_srgb(frame, icc, has_alpha)
    if frame.mode in ("L", "LA", "1"):
        grey = True
        frame = frame.convert("LA" if has_alpha else "L")
        arr = np.asarray(frame)
        lum = arr if arr.ndim == 2 else arr[..., 0]
        alpha = arr[..., 1].copy() if arr.ndim == 3 else None
        rgb = np.repeat(lum[..., None], 3, axis=2)
        return _hide_transparent(rgb, alpha), alpha, grey
    frame = frame.convert("RGBA" if has_alpha else "RGB")
    arr = np.asarray(frame)
    rgb = np.ascontiguousarray(arr[..., :3])
    alpha = arr[..., 3].copy() if has_alpha else None
    return _hide_transparent(rgb, alpha), alpha, False


def _hide_transparent(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Blank fully transparent pixels: they are invisible but would still carry a face."""
    if alpha is not None:
        rgb = rgb.copy()
        rgb[alpha == 0] = 0
    return rgb


def _high_depth_grey(frame: Image.Image) -> np.ndarray:
    arr = np.asarray(frame).astype(np.float64)
    top = arr.max(initial=0)
    if frame.mode == "F" and top <= 1.0:
        arr = arr * 255
    elif top > 255:
        arr = arr / 257
    lum = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return np.repeat(lum[..., None], 3, axis=2)


def _to_srgb(frame: Image.Image, icc: bytes, has_alpha: bool) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        alpha = frame.getchannel("A") if has_alpha and "A" in frame.mode else None
        base = frame.convert("RGB") if frame.mode in ("RGBA", "LA") else frame
        if base.mode == "L":
            return frame  # a grey profile: grey stays grey
        out = ImageCms.profileToProfile(base, source, _SRGB, outputMode="RGB")
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except (ImageCms.PyCMSError, OSError, ValueError):
        return frame  # an unusable profile: take the numbers as sRGB


def _orient(arr: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """Apply an EXIF orientation (2–8) to an array."""
    if arr is None:
        return None
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
    }
    op = ops.get(int(orientation)) if isinstance(orientation, int) else None
    return np.ascontiguousarray(op(arr)) if op else arr


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]

