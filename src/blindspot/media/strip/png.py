"""PNG: keep the chunks that define the picture and its colour, drop text, time and EXIF."""

import struct
import zlib

from blindspot.media.strip import StripError
from blindspot.media.strip.icc import scrub_icc

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNK = 2**31 - 1
_MAX_ICC = 64 * 1024 * 1024
_ICC_NAME = b"ICC profile"
_KEEP = frozenset(
    {
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
        b"pHYs", b"acTL", b"fcTL", b"fdAT",
        # colour rendering of HDR / wide-gamut images; no identifying content
        b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi",
    }
)  # fmt: skip


def _chunk(kind: bytes, payload: bytes) -> bytes:
    """Serialise one chunk with its length and CRC."""
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _read_chunk(data: bytes, pos: int) -> tuple[bytes, bytes, int]:
    """Return (type, payload, offset after the chunk), verifying its length and CRC."""
    if pos + 12 > len(data):
        raise StripError("PNG truncated (no IEND chunk)")
    length, kind = struct.unpack_from(">I4s", data, pos)
    end = pos + 12 + length
    if length > _MAX_CHUNK or end > len(data):
        raise StripError(f"PNG chunk {kind!r} truncated or too long")
    payload = data[pos + 8 : pos + 8 + length]
    if struct.unpack_from(">I", data, end - 4)[0] != zlib.crc32(kind + payload):
        raise StripError(f"PNG chunk {kind!r} has a bad CRC")
    return kind, payload, end


def _inflate(blob: bytes) -> bytes:
    """Decompress a zlib stream with an output cap, rejecting truncated or oversized data."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(blob, _MAX_ICC)
    except zlib.error as exc:
        raise StripError("PNG iCCP profile does not decompress") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise StripError("PNG iCCP profile truncated or too large")
    return out


def _clean_iccp(payload: bytes) -> bytes:
    """Return a new iCCP payload: neutral name, scrubbed and recompressed profile."""
    sep = payload.find(b"\x00", 0, 80)
    if sep < 1 or sep + 2 > len(payload) or payload[sep + 1] != 0:
        raise StripError("PNG iCCP chunk malformed")
    profile = scrub_icc(_inflate(payload[sep + 2 :]))
    return _ICC_NAME + b"\x00\x00" + zlib.compress(profile, 9)


def strip(data: bytes) -> bytes:
    """Return the PNG with only image, colour and animation chunks; stop at IEND."""
    if not data.startswith(_SIGNATURE):
        raise StripError("not a PNG (bad signature)")
    out, pos, first = [_SIGNATURE], len(_SIGNATURE), True
    while True:  # every iteration consumes at least 12 bytes, so this terminates
        kind, payload, pos = _read_chunk(data, pos)
        if first and kind != b"IHDR":
            raise StripError("PNG does not start with IHDR")
        first = False
        if kind == b"iCCP":
            out.append(_chunk(kind, _clean_iccp(payload)))
        elif kind in _KEEP:
            out.append(data[pos - 12 - len(payload) : pos])
        if kind == b"IEND":
            return b"".join(out)
