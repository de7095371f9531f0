"""Scrub an ICC profile: keep the colour data, blank what names a device, a person or a time."""

import struct

from blindspot.media.strip import StripError

_HEADER = 128
_MAX_TAGS = 1024
_MAX_PASSES = 8
# Header byte ranges zeroed: preferred CMM, creation date/time, primary platform, device
# manufacturer, model and attributes, profile creator, profile ID (MD5; 0 = "not computed").
_HEADER_BLANKS = ((4, 8), (24, 36), (40, 44), (48, 64), (80, 100))
# Tags that carry colour data (ICC.1:2022 plus the de-facto 'vcgt'); kept byte for byte
# unless their type is a text type. Every other tag (text, dates such as 'calt', device
# identity such as 'mmod', vendor-private data) is blanked in place.
_COLOUR_TAGS = frozenset(
    tag.encode()
    for tag in (
        "A2B0 A2B1 A2B2 A2B3 A2M0 B2A0 B2A1 B2A2 B2A3 B2D0 B2D1 B2D2 B2D3 D2B0 D2B1 D2B2 D2B3 "
        "bXYZ gXYZ rXYZ bTRC gTRC rTRC kTRC wtpt bkpt lumi chad chrm cicp clro clrt clot ciis "
        "gamt meas ncl2 pre0 pre1 pre2 resp rig0 rig2 tech view mcta vcgt"
    ).split()
)
# Tag types that only ever hold text; a tag of one of these types is always blanked.
_TEXT_TYPES = frozenset({b"mluc", b"desc", b"text", b"dict", b"mmod", b"dtim"})


def _u32(buf: bytes | bytearray, pos: int) -> int:
    """Read a big-endian uint32 at `pos`, raising StripError when out of range."""
    if pos < 0 or pos + 4 > len(buf):
        raise StripError("ICC profile truncated")
    return struct.unpack_from(">I", buf, pos)[0]


def _zero(buf: bytearray, start: int, end: int) -> None:
    """Zero `buf[start:end]` clamped to the buffer."""
    start, end = max(0, start), min(len(buf), end)
    if end > start:
        buf[start:end] = bytes(end - start)


def _read_tag_table(buf: bytearray) -> list[tuple[bytes, int, int]]:
    """Return (signature, offset, size) for every tag, each checked to lie inside the profile."""
    count = _u32(buf, _HEADER)
    if count > _MAX_TAGS or _HEADER + 4 + 12 * count > len(buf):
        raise StripError("ICC profile tag table out of range")
    tags = []
    for i in range(count):
        sig, off, size = struct.unpack_from(">4sII", buf, _HEADER + 4 + 12 * i)
        if off < _HEADER + 4 + 12 * count or size < 8 or off + size > len(buf):
            raise StripError("ICC profile tag outside the profile")
        tags.append((sig, off, size))
    return tags


def _blank_mluc(buf: bytearray, off: int, end: int) -> None:
    """multiLocalizedUnicodeType: keep the record table, zero the string storage after it."""
    count, rec_size = _u32(buf, off + 8), _u32(buf, off + 12)
    table_end = off + 16 + count * rec_size
    if rec_size < 12 or table_end > end:
        raise StripError("ICC mluc tag malformed")
    _zero(buf, table_end, end)


def _blank_text_description(buf: bytearray, off: int, end: int) -> None:
    """textDescriptionType (v2): zero the ASCII, Unicode and ScriptCode strings, keep counts."""
    ascii_len = _u32(buf, off + 8)
    pos = off + 12 + ascii_len
    if pos > end:
        raise StripError("ICC desc tag malformed")
    _zero(buf, off + 12, pos)
    if pos + 8 > end:  # some writers stop after the ASCII part
        return
    uni_len = _u32(buf, pos + 4)
    uni_end = pos + 8 + 2 * uni_len
    if uni_end > end:
        raise StripError("ICC desc tag malformed")
    _zero(buf, pos + 8, uni_end)
    _zero(buf, uni_end + 3, end)  # ScriptCode: code(2) count(1) then 67 bytes of string


def _blank_dict(buf: bytearray, off: int, end: int) -> None:
    """dictType: make it an empty dictionary (count 0, record length kept valid)."""
    _zero(buf, off + 8, off + 12)
    _zero(buf, off + 16, end)


def _blank_tag(buf: bytearray, off: int, size: int) -> None:
    """Blank one text/identity tag in place according to its type signature."""
    end = off + size
    kind = bytes(buf[off : off + 4])
    try:
        if kind == b"mluc":
            _blank_mluc(buf, off, end)
            return
        if kind == b"desc":
            _blank_text_description(buf, off, end)
            return
    except StripError:
        # A malformed text tag (or one that overlaps a tag blanked before it, which zeroed
        # its counts: fuzz/fuzz.py icc found that) is blanked whole: less kept, never more.
        pass
    if kind == b"dict":
        _blank_dict(buf, off, end)
    else:  # 'text', 'mmod', 'pseq', private types: opaque payload after the 8-byte type header
        _zero(buf, off + 8, end)


def _zero_unreferenced(buf: bytearray, tags: list[tuple[bytes, int, int]]) -> None:
    """Zero every byte after the tag table that no tag points at (padding or hidden data)."""
    pos = _HEADER + 4 + 12 * len(tags)
    for _sig, off, size in sorted(tags, key=lambda t: t[1]):
        _zero(buf, pos, off)
        pos = max(pos, off + size)
    _zero(buf, pos, len(buf))


def scrub_icc(profile: bytes) -> bytes:
    """Return `profile` with identifying header fields and text tags zeroed, structure intact."""
    if len(profile) < _HEADER + 4:
        raise StripError("ICC profile too short")
    size = _u32(profile, 0)
    if size < _HEADER + 4 or size > len(profile) or profile[36:40] != b"acsp":
        raise StripError("not a valid ICC profile")
    buf = bytearray(profile[:size])
    tags = _read_tag_table(buf)
    # Tags may overlap, so blanking one can change how another reads: blank until nothing
    # changes (each pass only zeroes bytes), so that the result scrubs to itself.
    for _ in range(_MAX_PASSES):
        before = bytes(buf)
        for start, end in _HEADER_BLANKS:
            _zero(buf, start, end)
        for sig, off, size_ in tags:
            if sig not in _COLOUR_TAGS or bytes(buf[off : off + 4]) in _TEXT_TYPES:
                _blank_tag(buf, off, size_)
        _zero_unreferenced(buf, tags)
        if buf == before:
            return bytes(buf)
    raise StripError("ICC profile tags overlap too much to scrub")
