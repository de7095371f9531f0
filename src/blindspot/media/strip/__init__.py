"""Lossless, container-level metadata stripping for JPEG, PNG, WebP and GIF bytes."""

import struct
import zlib
from collections.abc import Callable


class StripError(ValueError):
    """Input bytes that cannot be stripped safely; the message is a one-line reason."""


SUPPORTED = frozenset({"JPEG", "PNG", "WEBP", "GIF"})


def _stripper(fmt: str) -> Callable[[bytes], bytes]:
    """Return the format module's `strip` function (imported lazily, no import cycle)."""
    if fmt == "JPEG":
        from blindspot.media.strip import jpeg as module
    elif fmt == "PNG":
        from blindspot.media.strip import png as module
    elif fmt == "WEBP":
        from blindspot.media.strip import webp as module
    elif fmt == "GIF":
        from blindspot.media.strip import gif as module
    else:
        raise StripError(f"unsupported format for lossless stripping: {fmt!r}")
    return module.strip


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """Return `data` with identifying metadata removed and the picture bytes untouched."""
    strip = _stripper(fmt)
    try:
        return strip(bytes(data))
    except StripError:
        raise
    except (IndexError, ValueError, OverflowError, struct.error, zlib.error) as exc:  # safety net
        raise StripError(f"malformed {fmt} data ({type(exc).__name__})") from exc
