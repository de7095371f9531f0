"""Names of the metadata a source image carries, for the one-line summary of each file.

This only reports; nothing is copied from a source to an output (sinks write pixels alone).
"""

from __future__ import annotations

import struct

from PIL import ExifTags, Image

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_OWNER_TAGS = {0x013B: "artist", 0x8298: "copyright", 0xA430: "owner name"}
_DEVICE_TAGS = {0x010F: "make", 0x0110: "model", 0xA433: "lens make", 0xA434: "lens model"}
_SERIAL_TAGS = {0xA431: "serial number", 0xA435: "lens serial number"}
_DATE_TAGS = {0x0132, 0x9003, 0x9004}
_SOFTWARE = 0x0131
_MAKER_NOTE = 0x927C


def describe(image: Image.Image) -> list[str]:
    """Human names of the metadata in `image` (as opened by Pillow, before loading pixels)."""
    found: list[str] = []
    try:
        exif = image.getexif()
        if exif:
            found += _describe_exif(exif)
    except (OSError, SyntaxError, ValueError, KeyError, struct.error):
        found.append("EXIF (unreadable)")
    info = image.info
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        found.append("XMP")
    if "photoshop" in info or "iptc" in info:
        found.append("IPTC/Photoshop")
    if "icc_profile" in info and info["icc_profile"]:
        found.append("ICC profile")
    if "comment" in info:
        found.append("comment")
    if "mp" in info or image.format == "MPO" and getattr(image, "is_animated", False):
        found.append("MPF images")
    app_markers = {m for m, _ in getattr(image, "applist", [])}
    if "APP11" in app_markers:
        found.append("C2PA/JUMBF")
    text = {k for k in info if isinstance(info[k], str) and k not in ("comment",)}
    if image.format == "PNG" and text - {"XML:com.adobe.xmp"}:
        found.append("text chunks")
    return found


def _describe_exif(exif: Image.Exif) -> list[str]:
    found = []
    gps = exif.get_ifd(_GPS_IFD)
    if gps:
        found.append("GPS")
    sub = exif.get_ifd(_EXIF_IFD)
    tags = {**dict(exif), **dict(sub)}
    found += [name for tag, name in _DEVICE_TAGS.items() if tag in tags]
    found += [name for tag, name in _SERIAL_TAGS.items() if tag in tags]
    if _DATE_TAGS & tags.keys():
        found.append("dates")
    if _SOFTWARE in tags:
        found.append("software")
    found += [name for tag, name in _OWNER_TAGS.items() if tag in tags]
    if _MAKER_NOTE in tags:
        found.append("maker notes")
    if exif.get_ifd(ExifTags.IFD.IFD1):
        found.append("thumbnail")
    found.append("EXIF")
    return found
