"""GIF: keep the screen, colour tables, images, frame controls and looping; drop the rest."""

from blindspot.media.strip import StripError

_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_MAX_BLOCKS = 1 << 24


def _table_size(packed: int) -> int:
    """Byte size of the colour table announced by a packed field (0 if there is none)."""
    return 3 * (2 << (packed & 0x07)) if packed & 0x80 else 0


def _need(data: bytes, end: int, what: str) -> None:
    """Raise StripError unless `data` holds at least `end` bytes."""
    if end > len(data):
        raise StripError(f"GIF truncated in {what}")


def _sub_blocks(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """Return the data sub-blocks starting at `pos` (without length bytes) and the end offset."""
    blocks = []
    while True:  # every iteration consumes at least one byte, so this terminates
        _need(data, pos + 1, "a data sub-block")
        size = data[pos]
        if size == 0:
            return blocks, pos + 1
        _need(data, pos + 1 + size, "a data sub-block")
        blocks.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size


def _image(data: bytes, pos: int) -> tuple[bytes, int]:
    """Copy an image descriptor, local colour table and LZW data starting after 0x2C."""
    _need(data, pos + 9, "an image descriptor")
    table_end = pos + 9 + _table_size(data[pos + 8])
    _need(data, table_end + 1, "a local colour table")
    _blocks, end = _sub_blocks(data, table_end + 1)  # +1 skips the LZW minimum code size
    return b"\x2c" + data[pos:end], end


def _loop_extension(blocks: list[bytes]) -> bytes:
    """Rebuild a NETSCAPE2.0/ANIMEXTS1.0 block with only its loop-count sub-block."""
    kept = [b for b in blocks[1:] if len(b) == 3 and b[0] == 1]
    if not kept:  # no loop count: nothing to keep (and Pillow refuses the empty extension)
        return b""
    body = b"".join(bytes((len(b),)) + b for b in [blocks[0], *kept[:1]])
    return b"\x21\xff" + body + b"\x00"


def _extension(data: bytes, pos: int) -> tuple[bytes, int]:
    """Return (kept bytes, end) for an extension whose label is at `pos` (after 0x21)."""
    _need(data, pos + 1, "an extension label")
    label = data[pos]
    blocks, end = _sub_blocks(data, pos + 1)
    if label == 0xF9:  # graphic control: disposal, delay, transparency
        return data[pos - 1 : end], end
    if label == 0xFF and blocks and blocks[0] in _LOOP_APPS:
        return _loop_extension(blocks), end
    return b"", end  # comment, plain text, XMP, ICC and any other application data


def strip(data: bytes) -> bytes:
    """Return the GIF with only image, graphic-control and looping blocks; stop at the trailer."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise StripError("not a GIF (bad signature)")
    _need(data, 13, "the logical screen descriptor")
    pos = 13 + _table_size(data[10])
    _need(data, pos, "the global colour table")
    out = [data[:pos]]
    for _ in range(_MAX_BLOCKS):  # each block consumes at least one byte
        _need(data, pos + 1, "the block sequence (no trailer)")
        introducer, pos = data[pos], pos + 1
        if introducer == 0x3B:
            out.append(b"\x3b")
            return b"".join(out)
        if introducer == 0x2C:
            kept, pos = _image(data, pos)
        elif introducer == 0x21:
            kept, pos = _extension(data, pos)
        else:
            raise StripError(f"GIF has an unknown block introducer 0x{introducer:02x}")
        out.append(kept)
    raise StripError("GIF has too many blocks")
