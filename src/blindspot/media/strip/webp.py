"""WebP: walk the RIFF chunks, keep bitstream, alpha, animation and scrubbed ICC; drop the rest."""

import struct

from blindspot.media.strip import StripError
from blindspot.media.strip.icc import scrub_icc

_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_FRAME_KEEP = frozenset({b"VP8 ", b"VP8L", b"ALPH"})
_ANMF_HEADER = 16
# VP8X flag bits (first payload byte): ICC 0x20, alpha 0x10, EXIF 0x08, XMP 0x04, animation 0x02.
_ICC_FLAG, _ALPHA_FLAG, _ANIM_FLAG = 0x20, 0x10, 0x02


def _chunk(kind: bytes, payload: bytes) -> bytes:
    """Serialise one RIFF chunk with its size and a zero pad byte when the size is odd."""
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _chunks(data: bytes, pos: int, end: int) -> list[tuple[bytes, bytes]]:
    """Split `data[pos:end]` into (fourcc, payload) pairs, checking every size."""
    found = []
    while pos < end:  # every iteration consumes at least 8 bytes, so this terminates
        if pos + 8 > end:
            raise StripError("WebP truncated inside a chunk header")
        kind, size = struct.unpack_from("<4sI", data, pos)
        if pos + 8 + size > end:
            raise StripError(f"WebP chunk {kind!r} truncated")
        found.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return found


def _clean_anmf(payload: bytes) -> bytes:
    """Keep an animation frame's header and its bitstream/alpha sub-chunks only."""
    if len(payload) < _ANMF_HEADER:
        raise StripError("WebP ANMF chunk too short")
    frames = _chunks(payload, _ANMF_HEADER, len(payload))
    kept = [_chunk(k, p) for k, p in frames if k in _FRAME_KEEP]
    return payload[:_ANMF_HEADER] + b"".join(kept)


def _clean_vp8x(payload: bytes, has_icc: bool) -> bytes:
    """Clear the EXIF/XMP/reserved flags (and ICC when no ICCP remains) in a VP8X header."""
    if len(payload) < 10:
        raise StripError("WebP VP8X chunk too short")
    flags = payload[0] & (_ALPHA_FLAG | _ANIM_FLAG | (_ICC_FLAG if has_icc else 0))
    return bytes((flags, 0, 0, 0)) + payload[4:10]


def _clean(kind: bytes, payload: bytes, has_icc: bool) -> bytes:
    """Return the cleaned serialised chunk for one kept top-level chunk."""
    if kind == b"VP8X":
        payload = _clean_vp8x(payload, has_icc)
    elif kind == b"ICCP":
        payload = scrub_icc(payload)
    elif kind == b"ANMF":
        payload = _clean_anmf(payload)
    return _chunk(kind, payload)


def strip(data: bytes) -> bytes:
    """Return the WebP with only picture chunks, fixed VP8X flags and RIFF size."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise StripError("not a WebP (bad RIFF header)")
    riff_end = 8 + struct.unpack_from("<I", data, 4)[0]
    if riff_end > len(data):
        raise StripError("WebP truncated (RIFF size exceeds the data)")
    chunks = [(k, p) for k, p in _chunks(data, 12, riff_end) if k in _KEEP]
    if not any(k in (b"VP8 ", b"VP8L", b"ANMF") for k, _ in chunks):
        raise StripError("WebP has no image data")
    has_icc = any(k == b"ICCP" for k, _ in chunks)
    body = b"WEBP" + b"".join(_clean(k, p, has_icc) for k, p in chunks)
    if len(body) > 0xFFFFFFFF:
        raise StripError("WebP too large")
    return b"RIFF" + struct.pack("<I", len(body)) + body
