"""JPEG: walk the marker segments, keep what decodes the picture, drop every metadata segment."""

import struct

from blindspot.media.strip import StripError
from blindspot.media.strip.icc import scrub_icc

_SOI, _EOI, _SOS, _APP0, _APP2, _APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE2, 0xEE
_ICC_ID = b"ICC_PROFILE\x00"
_ICC_CHUNK = 65535 - 2 - len(_ICC_ID) - 2
# DQT, DHT, DAC, DRI, DNL, DHP, EXP and every SOFn (C0..CF except DHT, JPG, DAC).
_KEEP = frozenset({0xDB, 0xC4, 0xCC, 0xDD, 0xDC, 0xDE, 0xDF} | set(range(0xC0, 0xD0)) - {0xC8})
_STANDALONE = frozenset({0x01} | set(range(0xD0, 0xD8)))


def _segment(marker: int, payload: bytes) -> bytes:
    """Serialise one marker segment (the length field counts itself)."""
    if len(payload) > 65533:
        raise StripError("JPEG segment too large")
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _scan_end(data: bytes, pos: int) -> int:
    """Return the offset of the marker ending the entropy-coded data that starts at `pos`."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise StripError("JPEG truncated inside scan data")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # byte stuffing or restart marker
            pos += 2
        elif nxt == 0xFF:  # fill byte before a marker
            pos += 1
        else:
            return pos


def _read_marker(data: bytes, pos: int) -> tuple[int, int]:
    """Return (marker, offset after it) at `pos`, skipping 0xFF fill bytes."""
    if pos >= len(data) or data[pos] != 0xFF:
        raise StripError("JPEG truncated or corrupt: expected a marker")
    while pos < len(data) and data[pos] == 0xFF:
        pos += 1
    if pos >= len(data):
        raise StripError("JPEG truncated at a marker")
    return data[pos], pos + 1


def _read_payload(data: bytes, pos: int) -> tuple[bytes, int]:
    """Return (segment payload, offset after the segment) for a segment whose length is at `pos`."""
    if pos + 2 > len(data):
        raise StripError("JPEG truncated at a segment length")
    length = struct.unpack_from(">H", data, pos)[0]
    if length < 2 or pos + length > len(data):
        raise StripError("JPEG segment length out of range")
    return data[pos + 2 : pos + length], pos + length


def _clean_jfif(payload: bytes) -> bytes:
    """Return a minimal JFIF APP0 (version, density, no thumbnail), or b'' if not JFIF."""
    if not payload.startswith(b"JFIF\x00") or len(payload) < 14:
        return b""
    return _segment(_APP0, payload[:12] + b"\x00\x00")


def _clean_adobe(payload: bytes) -> bytes:
    """Return the APP14 Adobe segment cut to its 12 defined bytes, or b'' if not Adobe."""
    if not payload.startswith(b"Adobe") or len(payload) < 12:
        return b""
    return _segment(_APP14, payload[:12])


def _icc_segments(chunks: dict[int, bytes], total: int | None) -> bytes:
    """Reassemble ICC_PROFILE chunks, scrub the profile, re-chunk it into APP2 segments."""
    if total is None:
        return b""
    if sorted(chunks) != list(range(1, total + 1)):
        raise StripError("JPEG ICC profile chunks missing or out of sequence")
    profile = scrub_icc(b"".join(chunks[i] for i in range(1, total + 1)))
    parts = [profile[i : i + _ICC_CHUNK] for i in range(0, len(profile), _ICC_CHUNK)]
    if len(parts) > 255:
        raise StripError("JPEG ICC profile too large")
    return b"".join(
        _segment(_APP2, _ICC_ID + bytes((n, len(parts))) + part) for n, part in enumerate(parts, 1)
    )


class _Walker:
    """State of one pass over the segments: kept header pieces, ICC chunks, kept body."""

    def __init__(self) -> None:
        self.jfif = b""
        self.adobe = b""
        self.icc: dict[int, bytes] = {}
        self.icc_total: int | None = None
        self.body: list[bytes] = []
        self.scans = 0

    def add_icc(self, payload: bytes) -> None:
        """Record one ICC_PROFILE chunk after checking its sequence fields."""
        if len(payload) < len(_ICC_ID) + 2:
            raise StripError("JPEG ICC chunk too short")
        seq, total = payload[len(_ICC_ID)], payload[len(_ICC_ID) + 1]
        if seq == 0 or seq > total or seq in self.icc or self.icc_total not in (None, total):
            raise StripError("JPEG ICC chunk numbering inconsistent")
        self.icc_total = total
        self.icc[seq] = payload[len(_ICC_ID) + 2 :]

    def add_segment(self, marker: int, payload: bytes) -> None:
        """Keep, clean or drop one non-scan segment."""
        if marker == _APP0 and not self.jfif:
            self.jfif = _clean_jfif(payload)
        elif marker == _APP14 and not self.adobe:
            self.adobe = _clean_adobe(payload)
        elif marker == _APP2 and payload.startswith(_ICC_ID):
            self.add_icc(payload)
        elif marker in _KEEP:
            self.body.append(_segment(marker, payload))
        # everything else (APPn, COM, JPGn, reserved) is dropped

    def output(self) -> bytes:
        """Assemble SOI, the clean APP segments, the kept body and EOI."""
        icc = _icc_segments(self.icc, self.icc_total)
        head = b"\xff\xd8" + self.jfif + self.adobe + icc
        return head + b"".join(self.body) + b"\xff\xd9"


def strip(data: bytes) -> bytes:
    """Return the JPEG with only decoding segments, scrubbed ICC and clean JFIF/Adobe kept."""
    if not data.startswith(b"\xff\xd8"):
        raise StripError("not a JPEG (no SOI marker)")
    walker, pos = _Walker(), 2
    while True:  # every iteration consumes at least two bytes, so this terminates
        marker, pos = _read_marker(data, pos)
        if marker == _EOI:
            break
        if marker == _SOI:
            raise StripError("JPEG has a second SOI before EOI")
        if marker in _STANDALONE:
            continue
        payload, pos = _read_payload(data, pos)
        if marker == _SOS:
            end = _scan_end(data, pos)
            walker.body.append(_segment(marker, payload) + data[pos:end])
            walker.scans += 1
            pos = end
        else:
            walker.add_segment(marker, payload)
    if walker.scans == 0:
        raise StripError("JPEG has no image scan")
    return walker.output()
