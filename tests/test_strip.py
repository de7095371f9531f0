"""Tests for blindspot.strip: real images with real metadata, judged by exiftool and pixels."""

import importlib
import io
import json
import random
import re
import struct
import subprocess
import warnings
import zlib

import numpy as np
import piexif
import pytest
from PIL import Image, ImageCms, ImageSequence, PngImagePlugin
from skimage import data as skdata

from blindspot.media.strip import SUPPORTED, StripError, strip_metadata
from blindspot.media.strip.icc import scrub_icc

SECRET = "Jane Q. Protester"
SERIAL = "SN-0042-1337"

# --------------------------------------------------------------------------- exiftool judge

_IDENTIFYING_NAME = re.compile(
    r"GPS|Make|Model|Serial|Date|Software|Artist|Author|Copyright|Owner|Creator|By-line|"
    r"Thumbnail|PreviewImage|Comment|MakerNote|Description|Title|Keywords|City|Location|"
    r"Credit|Rights|Contact|Caption|Writer|Source|UserComment|Unique|DocumentID|InstanceID|"
    r"History|Lens|Device|Profile(CMM|Creator|ID)|Platform|C2PA|JUMBF|Manifest|Claim|IPTC|Exif"
)  # case-sensitive on purpose: "City" must not match "ChromatiCity"
_IDENTIFYING_GROUP = re.compile(
    r"^(IFD0|IFD1|ExifIFD|GPS|InteropIFD|MakerNotes|XMP.*|IPTC.*|Photoshop|MPF\d*|JUMBF|"
    r"C2PA|FlashPix|PNG-(tEXt|zTXt|iTXt))$|^(Canon|Nikon|Sony|Apple|Samsung)"
)
# exiftool's own bookkeeping and structural facts about the picture: never identifying.
_HARMLESS_GROUP = {"ExifTool", "System"}
_BLANK_VALUE = re.compile(r"^[\s0:.\-+]*$")
# How exiftool renders all-zero ICC header fields (zero bits / zero signature).
_BLANK_RENDERINGS = {
    ("ICC-header:DeviceAttributes", "Reflective, Glossy, Positive, Color"),
    ("ICC-header:PrimaryPlatform", "Unknown ()"),
    ("ICC-header:ProfileCMMType", "Unknown ()"),
}


def exiftool(data: bytes) -> dict[str, object]:
    """All tags exiftool finds in `data` (read from stdin), keyed 'Group:Tag'."""
    run = subprocess.run(
        ["exiftool", "-a", "-u", "-G1", "-s", "-j", "-"],
        input=data, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    (tags,) = json.loads(run.stdout)
    tags.pop("SourceFile", None)
    return tags


def _is_blank(value: object) -> bool:
    """True for values that carry no information (empty text, zero dates, zero numbers)."""
    return _BLANK_VALUE.match(str(value).replace("\x00", "")) is not None


def identifying_tags(data: bytes) -> dict[str, object]:
    """The tags exiftool reports that could identify a person, a device, a place or a time."""
    found = {}
    for key, value in exiftool(data).items():
        group, _, name = key.partition(":")
        if group in _HARMLESS_GROUP or _is_blank(value) or (key, value) in _BLANK_RENDERINGS:
            continue
        if _IDENTIFYING_GROUP.search(group) or _IDENTIFYING_NAME.search(name):
            found[key] = value
    return found


def assert_clean(before: bytes, after: bytes) -> None:
    """The input must leak (so the test can fail) and the output must not."""
    leaked = identifying_tags(before)
    assert leaked, "fixture carries no identifying metadata; the test would prove nothing"
    assert identifying_tags(after) == {}
    for needle in (SECRET.encode(), SERIAL.encode(), b"Jane", b"Canon", b"48.85"):
        assert needle not in after


# --------------------------------------------------------------------------- fixtures


def _pixels() -> Image.Image:
    """A real photograph, cropped so the tests stay fast."""
    return Image.fromarray(skdata.astronaut()[:160, 100:300])


def _exif_bytes() -> bytes:
    """EXIF with GPS, camera identity, owner, dates, software and a JPEG thumbnail."""
    thumb = io.BytesIO()
    _pixels().resize((40, 32)).save(thumb, "JPEG")
    zeroth = {
        piexif.ImageIFD.Make: b"Canon",
        piexif.ImageIFD.Model: b"Canon EOS 5D Mark IV",
        piexif.ImageIFD.Software: b"Firmware 1.2.3",
        piexif.ImageIFD.Artist: SECRET.encode(),
        piexif.ImageIFD.Copyright: SECRET.encode(),
        piexif.ImageIFD.DateTime: b"2024:05:01 12:34:56",
        piexif.ImageIFD.ImageDescription: b"march at city hall",
    }
    exif = {
        piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 12:34:56",
        piexif.ExifIFD.DateTimeDigitized: b"2024:05:01 12:34:56",
        piexif.ExifIFD.BodySerialNumber: SERIAL.encode(),
        piexif.ExifIFD.LensSerialNumber: b"LENS-777",
        piexif.ExifIFD.CameraOwnerName: SECRET.encode(),
        piexif.ExifIFD.MakerNote: b"Canon\x00private maker data " + SERIAL.encode(),
        piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00meet at the bridge",
    }
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2964, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (792, 100)),
        piexif.GPSIFD.GPSAltitude: (35, 1),
        piexif.GPSIFD.GPSDateStamp: b"2024:05:01",
    }
    first = {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.XResolution: (72, 1)}
    return piexif.dump(
        {"0th": zeroth, "Exif": exif, "GPS": gps, "1st": first, "thumbnail": thumb.getvalue()}
    )


XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    f'xmp:CreateDate="2024-05-01T12:34:56" exif:GPSLatitude="48,51.494N" '
    f'exif:GPSLongitude="2,21.132E" tiff:Make="Canon" photoshop:City="Paris" '
    f'exif:BodySerialNumber="{SERIAL}">'
    f"<dc:creator><rdf:Seq><rdf:li>{SECRET}</rdf:li></rdf:Seq></dc:creator>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
).encode()


def _add_icc_tag(profile: bytes, sig: bytes, payload: bytes) -> bytes:
    """Append one tag to an ICC profile, rebuilding the tag table and the size field."""
    (count,) = struct.unpack_from(">I", profile, 128)
    entries = [struct.unpack_from(">4sII", profile, 132 + 12 * i) for i in range(count)]
    shifted = [(s, o + 12, n) for s, o, n in entries]
    body = bytearray(profile[132 + 12 * count :])
    body += bytes(-len(body) % 4)
    new_offset = 132 + 12 * (count + 1) + len(body)
    shifted.append((sig, new_offset, len(payload)))
    body += payload
    table = struct.pack(">I", count + 1) + b"".join(struct.pack(">4sII", *e) for e in shifted)
    out = bytearray(profile[:128]) + table + body
    out[0:4] = struct.pack(">I", len(out))
    return bytes(out)


def _icc_profile(big: bool = False) -> bytes:
    """sRGB from LittleCMS, made identifying: device fields, creator, text tags with names."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[48:56] = b"CANOEOS5"
    profile[80:84] = b"JANE"
    text = b"text\x00\x00\x00\x00" + f"owner {SECRET} {SERIAL}\x00".encode()
    out = _add_icc_tag(bytes(profile), b"dmdd", text)
    desc_ascii = f"Canon EOS 5D {SERIAL}\x00".encode()
    desc_v2 = (
        b"desc\x00\x00\x00\x00" + struct.pack(">I", len(desc_ascii)) + desc_ascii
        + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + b"\x00\x00" + b"\x00" + bytes(67)
    )  # fmt: skip
    out = _add_icc_tag(out, b"dmnd", desc_v2)
    if big:  # spans several JPEG APP2 chunks
        out = _add_icc_tag(out, b"zPvt", b"zPvt\x00\x00\x00\x00" + SERIAL.encode() * 8000)
    return out


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """Independent JPEG walker for the tests: (marker, segment bytes incl. scan data)."""
    out, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append((marker, b""))
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
        out.append((marker, data[pos:end]))
        pos = end
    return out


def _scans(data: bytes) -> list[bytes]:
    """SOS headers plus their entropy-coded data, in order."""
    return [seg for marker, seg in _jpeg_segments(data) if marker == 0xDA]


def _insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _seg(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _iptc_app13() -> bytes:
    """A Photoshop APP13 with an IPTC-IIM record: by-line, city, date created."""

    def ds(tag: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes((tag,)) + struct.pack(">H", len(value)) + value

    iim = ds(0x50, SECRET.encode()) + ds(0x5A, b"Paris") + ds(0x37, b"20240501")
    iim += bytes(len(iim) & 1)
    irb = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim
    return _seg(0xED, b"Photoshop 3.0\x00" + irb)


def _mpf_app2() -> bytes:
    """A minimal MPF APP2 (TIFF header, one MPFVersion entry)."""
    ifd = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\xb0\x00\x00\x07\x00\x00\x00\x04"
    return _seg(0xE2, b"MPF\x00" + ifd + b"0100" + b"\x00\x00\x00\x00")


def _save(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _dirty_jpeg(img: Image.Image | None = None, **kwargs: object) -> bytes:
    """A JPEG with EXIF+thumbnail, ICC, COM, XMP, extended XMP, IPTC, MPF, JUMBF, trailer."""
    img = img if img is not None else _pixels()
    base = _save(
        img, "JPEG", exif=_exif_bytes(), icc_profile=_icc_profile(kwargs.pop("big_icc", False)),
        comment=f"shot by {SECRET}", quality=90, **kwargs,
    )  # fmt: skip
    xmp = _seg(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
    ext_xmp = _seg(0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + XMP[:40])
    jumbf = _seg(0xEB, b"JP\x00\x01\x00\x00\x00\x01" + b"c2pa manifest " + SECRET.encode())
    app5 = _seg(0xE5, b"vendor private " + SERIAL.encode())
    dirty = _insert_after_soi(base, xmp, ext_xmp, _iptc_app13(), _mpf_app2(), jumbf, app5)
    second = _save(_pixels().resize((64, 48)), "JPEG", exif=_exif_bytes())  # fake MPF image
    return dirty + second + b"trailer " + SERIAL.encode()


def _decode(data: bytes) -> list[np.ndarray]:
    """Every frame of an image as arrays (mode kept as decoded)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Image appears to be a malformed MPO")
        with Image.open(io.BytesIO(data)) as im:
            return [np.asarray(frame.copy()) for frame in ImageSequence.Iterator(im)]


def assert_same_pixels(before: bytes, after: bytes) -> None:
    a, b = _decode(before), _decode(after)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape and np.array_equal(x, y)


# --------------------------------------------------------------------------- JPEG


@pytest.fixture(scope="module")
def dirty_jpeg() -> bytes:
    return _dirty_jpeg()


def test_jpeg_metadata_removed(dirty_jpeg: bytes) -> None:
    clean = strip_metadata(dirty_jpeg, "JPEG")
    assert_clean(dirty_jpeg, clean)
    before = exiftool(dirty_jpeg)
    assert any(k.startswith("GPS:") for k in before) and "IFD1:ThumbnailImage" in before


def test_jpeg_pixels_and_scans_identical(dirty_jpeg: bytes) -> None:
    clean = strip_metadata(dirty_jpeg, "JPEG")
    assert_same_pixels(dirty_jpeg, clean)
    assert _scans(clean) == _scans(dirty_jpeg)[: len(_scans(clean))]
    assert len(_scans(clean)) == 1
    assert clean.endswith(b"\xff\xd9") and clean.count(b"\xff\xd8") == 1


def test_jpeg_keeps_only_decoding_segments(dirty_jpeg: bytes) -> None:
    clean = strip_metadata(dirty_jpeg, "JPEG")
    markers = [m for m, _ in _jpeg_segments(clean)]
    allowed = {0xE0, 0xE2, 0xEE, 0xDB, 0xC4, 0xDD, 0xDA, 0xD9} | set(range(0xC0, 0xD0))
    assert set(markers) <= allowed
    jfif = [seg for m, seg in _jpeg_segments(clean) if m == 0xE0]
    assert len(jfif) == 1 and jfif[0][-2:] == b"\x00\x00"  # no JFIF thumbnail
    for m, seg in _jpeg_segments(clean):
        if m == 0xE2:
            assert seg[4:16] == b"ICC_PROFILE\x00"


def test_jpeg_icc_scrubbed_and_usable(dirty_jpeg: bytes) -> None:
    clean = strip_metadata(dirty_jpeg, "JPEG")
    with Image.open(io.BytesIO(clean)) as im:
        icc = im.info["icc_profile"]
    assert icc == scrub_icc(_icc_profile())
    assert SERIAL.encode() not in icc and b"CANO" not in icc
    tags = exiftool(clean)
    assert tags.get("ICC_Profile:ProfileDescription", "") == ""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB")


def test_jpeg_multi_chunk_icc() -> None:
    dirty = _dirty_jpeg(big_icc=True)
    icc_in = [s for m, s in _jpeg_segments(dirty) if m == 0xE2 and b"ICC_PROFILE" in s[:16]]
    assert len(icc_in) >= 2
    clean = strip_metadata(dirty, "JPEG")
    icc_out = [s for m, s in _jpeg_segments(clean) if m == 0xE2]
    assert len(icc_out) == len(icc_in)
    assert [s[16:18] for s in icc_out] == [bytes((i, len(icc_out))) for i in range(1, 4)][
        : len(icc_out)
    ]
    with Image.open(io.BytesIO(clean)) as im:
        assert im.info["icc_profile"] == scrub_icc(_icc_profile(big=True))
    assert SERIAL.encode() not in clean
    assert_same_pixels(dirty, clean)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"progressive": True},
        {"restart_marker_rows": 1},
        {"restart_marker_blocks": 3, "subsampling": 0},
        {"progressive": True, "restart_marker_blocks": 5},
    ],
)
def test_jpeg_progressive_and_restart(kwargs: dict[str, object]) -> None:
    dirty = _dirty_jpeg(**kwargs)
    clean = strip_metadata(dirty, "JPEG")
    scans_in, scans_out = _scans(dirty), _scans(clean)
    assert scans_out == scans_in[: len(scans_out)]
    if kwargs.get("progressive"):
        assert len(scans_out) > 1
    if "restart_marker_rows" in kwargs or "restart_marker_blocks" in kwargs:
        assert any(bytes((0xFF, r)) in b"".join(scans_out) for r in range(0xD0, 0xD8))
        assert 0xDD in [m for m, _ in _jpeg_segments(clean)]
    assert_same_pixels(dirty, clean)
    assert identifying_tags(clean) == {}


def test_jpeg_cmyk_keeps_adobe() -> None:
    dirty = _dirty_jpeg(_pixels().convert("CMYK"))
    clean = strip_metadata(dirty, "JPEG")
    adobe = [s for m, s in _jpeg_segments(clean) if m == 0xEE]
    assert len(adobe) == 1 and adobe[0][4:9] == b"Adobe" and len(adobe[0]) == 16
    assert_same_pixels(dirty, clean)
    assert_clean(dirty, clean)


def test_jpeg_grayscale_no_jfif() -> None:
    base = _save(_pixels().convert("L"), "JPEG", exif=_exif_bytes())
    no_app0 = base[:2] + base[2 + 2 + struct.unpack_from(">H", base, 4)[0] :]
    assert no_app0[2:4] != b"\xff\xe0"
    clean = strip_metadata(no_app0, "JPEG")
    assert 0xE0 not in [m for m, _ in _jpeg_segments(clean)]
    assert_same_pixels(no_app0, clean)
    assert_clean(no_app0, clean)


def test_jpeg_idempotent(dirty_jpeg: bytes) -> None:
    once = strip_metadata(dirty_jpeg, "JPEG")
    assert strip_metadata(once, "JPEG") == once


def test_jpeg_fill_bytes_between_segments() -> None:
    base = _save(_pixels(), "JPEG")
    padded = base[:2] + b"\xff\xff\xff" + base[2:]
    assert strip_metadata(padded, "JPEG") == strip_metadata(base, "JPEG")


# --------------------------------------------------------------------------- PNG


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _insert_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    """Insert chunks right after IHDR."""
    end_ihdr = 8 + 12 + struct.unpack_from(">I", png, 8)[0]
    return png[:end_ihdr] + b"".join(chunks) + png[end_ihdr:]


def _png_chunk_types(png: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        out.append(png[pos + 4 : pos + 8])
        pos += 12 + length
    return out


def _idat(png: bytes) -> bytes:
    out, pos = b"", 8
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        if png[pos + 4 : pos + 8] == b"IDAT":
            out += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return out


@pytest.fixture(scope="module")
def dirty_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", f"serial {SERIAL}", zip=True)
    info.add_itxt("Description", "march at city hall, Paris", lang="en")
    info.add_text("XML:com.adobe.xmp", XMP.decode())
    base = _save(
        _pixels().convert("RGBA"), "PNG", pnginfo=info, exif=_exif_bytes(),
        icc_profile=_icc_profile(),
    )  # fmt: skip
    extra = (
        _png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 1, 12, 34, 56)),
        _png_chunk(b"caBX", b"jumb c2pa " + SECRET.encode()),
        _png_chunk(b"prVt", SERIAL.encode()),
        _png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
        _png_chunk(b"gAMA", struct.pack(">I", 45455)),
    )
    return _insert_png_chunks(base, *extra) + b"after IEND " + SERIAL.encode()


def test_png_metadata_removed(dirty_png: bytes) -> None:
    clean = strip_metadata(dirty_png, "PNG")
    assert_clean(dirty_png, clean)
    kinds = _png_chunk_types(clean)
    assert set(kinds) <= {b"IHDR", b"iCCP", b"pHYs", b"gAMA", b"IDAT", b"IEND"}
    assert {b"iCCP", b"pHYs", b"gAMA", b"IDAT"} <= set(kinds)
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and clean.endswith(b"IEND\xaeB`\x82")


def test_png_pixels_and_idat_identical(dirty_png: bytes) -> None:
    clean = strip_metadata(dirty_png, "PNG")
    assert_same_pixels(dirty_png, clean)
    assert _idat(clean) == _idat(dirty_png)


def test_png_iccp_scrubbed(dirty_png: bytes) -> None:
    clean = strip_metadata(dirty_png, "PNG")
    with Image.open(io.BytesIO(clean)) as im:
        assert im.info["icc_profile"] == scrub_icc(_icc_profile())
    assert strip_metadata(clean, "PNG") == clean


def test_png_apng_frames_kept() -> None:
    frames = [_pixels(), _pixels().rotate(90), _pixels().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    dirty = _save(
        frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0,
        pnginfo=info, exif=_exif_bytes(),
    )  # fmt: skip
    clean = strip_metadata(dirty, "PNG")
    kinds = _png_chunk_types(clean)
    assert b"acTL" in kinds and b"fcTL" in kinds and b"fdAT" in kinds
    assert b"tEXt" not in kinds and b"eXIf" not in kinds
    assert_same_pixels(dirty, clean)
    assert_clean(dirty, clean)


def test_png_bad_crc(dirty_png: bytes) -> None:
    bad = bytearray(dirty_png)
    bad[8 + 8 + 13] ^= 0x01  # IHDR CRC
    with pytest.raises(StripError, match="CRC"):
        strip_metadata(bytes(bad), "PNG")
    clean = bytearray(strip_metadata(dirty_png, "PNG"))
    idat = bytes(clean).index(b"IDAT")
    clean[idat + 10] ^= 0xFF  # corrupt IDAT payload, CRC no longer matches
    with pytest.raises(StripError, match="CRC"):
        strip_metadata(bytes(clean), "PNG")


# --------------------------------------------------------------------------- WebP


def _riff_chunks(webp: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 12
    while pos < len(webp):
        kind, size = struct.unpack_from("<4sI", webp, pos)
        out.append((kind, webp[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


@pytest.fixture(scope="module")
def dirty_webp() -> bytes:
    base = _save(
        _pixels(), "WEBP", quality=80, exif=_exif_bytes(), xmp=XMP, icc_profile=_icc_profile()
    )
    unknown = b"prVt" + struct.pack("<I", 13) + SERIAL.encode() + b"!" + b"\x00"
    body = base[12:] + unknown
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def test_webp_metadata_removed(dirty_webp: bytes) -> None:
    assert {k for k, _ in _riff_chunks(dirty_webp)} >= {b"EXIF", b"XMP ", b"ICCP", b"prVt"}
    clean = strip_metadata(dirty_webp, "WEBP")
    assert_clean(dirty_webp, clean)
    chunks = _riff_chunks(clean)
    assert [k for k, _ in chunks] == [b"VP8X", b"ICCP", b"VP8 "]
    flags = chunks[0][1][0]
    assert flags & 0x0C == 0 and flags & 0x20
    assert struct.unpack_from("<I", clean, 4)[0] == len(clean) - 8
    assert chunks[2][1] == dict(_riff_chunks(dirty_webp))[b"VP8 "]
    assert chunks[1][1] == scrub_icc(_icc_profile())


def test_webp_pixels_identical(dirty_webp: bytes) -> None:
    assert_same_pixels(dirty_webp, strip_metadata(dirty_webp, "WEBP"))


def test_webp_lossless_alpha_and_animation() -> None:
    rgba = _pixels().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    frames = [rgba, rgba.rotate(180)]
    dirty = _save(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True,
        duration=80, loop=0, exif=_exif_bytes(), xmp=XMP,
    )  # fmt: skip
    clean = strip_metadata(dirty, "WEBP")
    kinds = [k for k, _ in _riff_chunks(clean)]
    assert kinds[:2] == [b"VP8X", b"ANIM"] and kinds.count(b"ANMF") == 2
    assert _riff_chunks(clean)[0][1][0] & 0x2E == 0x02  # animation set; ICC/EXIF/XMP clear
    assert_same_pixels(dirty, clean)
    assert_clean(dirty, clean)


def test_webp_drops_icc_flag_without_iccp() -> None:
    base = _save(_pixels(), "WEBP", exif=_exif_bytes())
    chunks = _riff_chunks(base)
    assert chunks[0][0] == b"VP8X"
    vp8x = bytes((chunks[0][1][0] | 0x20,)) + chunks[0][1][1:]  # lies about an ICC profile
    body = b"WEBP" + b"".join(
        k + struct.pack("<I", len(p)) + p + bytes(len(p) & 1)
        for k, p in [(b"VP8X", vp8x), *chunks[1:]]
    )
    clean = strip_metadata(b"RIFF" + struct.pack("<I", len(body)) + body, "WEBP")
    assert _riff_chunks(clean)[0][1][0] & 0x2C == 0


# --------------------------------------------------------------------------- GIF


def _gif_app_ext(ident: bytes, payload: bytes) -> bytes:
    blocks = b"".join(
        bytes((len(payload[i : i + 255]),)) + payload[i : i + 255]
        for i in range(0, len(payload), 255)
    )
    return b"\x21\xff\x0b" + ident + blocks + b"\x00"


def _gif_insert_before_trailer(gif: bytes, *blocks: bytes) -> bytes:
    assert gif.endswith(b"\x3b")
    return gif[:-1] + b"".join(blocks) + b"\x3b"


@pytest.fixture(scope="module")
def dirty_gif() -> bytes:
    frames = [_pixels().convert("P"), _pixels().rotate(90).convert("P")]
    base = _save(
        frames[0], "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0,
        comment=f"shot by {SECRET}",
    )  # fmt: skip
    magic = bytes([1, *range(255, -1, -1)])  # XMP-in-GIF "magic trailer"
    xmp = b"\x21\xff\x0bXMP DataXMP" + XMP + magic + b"\x00"
    icc = _gif_app_ext(b"ICCRGBG1012", _icc_profile())
    plain_text = b"\x21\x01\x0c" + bytes(12) + bytes((len(SERIAL),)) + SERIAL.encode() + b"\x00"
    comment = b"\x21\xfe" + bytes((len(SECRET),)) + SECRET.encode() + b"\x00"
    gif = base[:-1]
    return gif + xmp + icc + plain_text + comment + b"\x3b" + b"after trailer " + SERIAL.encode()


def test_gif_metadata_removed(dirty_gif: bytes) -> None:
    clean = strip_metadata(dirty_gif, "GIF")
    assert_clean(dirty_gif, clean)
    assert b"NETSCAPE2.0" in clean and b"XMP DataXMP" not in clean and b"ICCRGBG1" not in clean
    assert clean.endswith(b"\x3b")


def test_gif_pixels_and_timing_identical(dirty_gif: bytes) -> None:
    clean = strip_metadata(dirty_gif, "GIF")
    assert_same_pixels(dirty_gif, clean)
    with Image.open(io.BytesIO(clean)) as a, Image.open(io.BytesIO(dirty_gif)) as b:
        assert a.info.get("loop") == b.info.get("loop") == 0
        assert a.info.get("duration") == b.info.get("duration")
        assert "comment" not in a.info


def test_gif_static_with_local_table() -> None:
    gif = _save(_pixels().convert("P"), "GIF", comment=SECRET)
    clean = strip_metadata(gif, "GIF")
    assert SECRET.encode() not in clean
    assert_same_pixels(gif, clean)


# --------------------------------------------------------------------------- ICC


def test_scrub_icc_fields() -> None:
    profile = _icc_profile()
    scrubbed = scrub_icc(profile)
    assert len(scrubbed) == len(profile)
    for start, end in ((4, 8), (24, 36), (40, 44), (48, 64), (80, 100)):
        assert scrubbed[start:end] == bytes(end - start)
    assert scrubbed[36:40] == b"acsp" and scrubbed[8:24] == profile[8:24]
    assert scrubbed[64:80] == profile[64:80]  # rendering intent, illuminant
    assert SECRET.encode() not in scrubbed and SERIAL.encode() not in scrubbed
    assert "built-in".encode("utf-16-be") not in scrubbed
    (count,) = struct.unpack_from(">I", profile, 128)
    for i in range(count):
        sig, off, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
        if sig in (b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"rTRC", b"chad", b"chrm"):
            assert scrubbed[off : off + size] == profile[off : off + size]
        if sig in (b"desc", b"cprt"):  # mluc: record table intact, strings zeroed
            assert scrubbed[off : off + 28] == profile[off : off + 28]
            assert scrubbed[off + 28 : off + size] == bytes(size - 28)
    assert scrub_icc(scrubbed) == scrubbed


def test_scrubbed_icc_transforms_identically() -> None:
    original = ImageCms.ImageCmsProfile(io.BytesIO(_icc_profile()))
    scrubbed = ImageCms.ImageCmsProfile(io.BytesIO(scrub_icc(_icc_profile())))
    lab = ImageCms.createProfile("LAB")
    img = _pixels()
    a = ImageCms.profileToProfile(img, original, lab, outputMode="LAB")
    b = ImageCms.profileToProfile(img, scrubbed, lab, outputMode="LAB")
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_scrub_icc_zeroes_unreferenced_bytes() -> None:
    profile = bytearray(_icc_profile())
    profile += b"hidden " + SERIAL.encode()
    profile[0:4] = struct.pack(">I", len(profile))
    assert SERIAL.encode() not in scrub_icc(bytes(profile))[-20:]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p[:100],
        lambda p: p[:36] + b"xxxx" + p[40:],
        lambda p: struct.pack(">I", len(p) + 10) + p[4:],
        lambda p: p[:128] + struct.pack(">I", 100000) + p[132:],
        lambda p: p[:136] + struct.pack(">I", len(p) - 4) + p[140:],
        lambda p: b"",
    ],
)
def test_scrub_icc_rejects_malformed(mutate) -> None:  # noqa: ANN001
    with pytest.raises(StripError):
        scrub_icc(mutate(_icc_profile()))


# --------------------------------------------------------------------------- malformed input


@pytest.fixture(scope="module")
def clean_samples(dirty_jpeg: bytes, dirty_png: bytes, dirty_webp: bytes, dirty_gif: bytes):
    """Stripped outputs: no trailing data, so any truncation really is a truncation."""
    dirty = {"JPEG": dirty_jpeg, "PNG": dirty_png, "WEBP": dirty_webp, "GIF": dirty_gif}
    return {fmt: (data, strip_metadata(data, fmt)) for fmt, data in dirty.items()}


@pytest.mark.parametrize("fmt", sorted(SUPPORTED))
def test_truncated_input_raises(fmt: str, clean_samples) -> None:  # noqa: ANN001
    _, clean = clean_samples[fmt]
    cuts = sorted({1, 2, 5, 11, 13, 20, 40, *(len(clean) * k // 10 for k in range(1, 10))})
    cuts += [len(clean) - 2, len(clean) - 1]
    for cut in cuts:
        with pytest.raises(StripError):
            strip_metadata(clean[:cut], fmt)


@pytest.mark.parametrize("fmt", sorted(SUPPORTED))
@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", bytes(1000), b"\xff" * 64, bytes(range(256)) * 4, b"GIF89a", b"RIFF"],
)
def test_garbage_raises(fmt: str, garbage: bytes) -> None:
    with pytest.raises(StripError):
        strip_metadata(garbage, fmt)


def test_unsupported_format() -> None:
    with pytest.raises(StripError, match="unsupported"):
        strip_metadata(b"II*\x00", "TIFF")


@pytest.mark.parametrize("fmt", sorted(SUPPORTED))
def test_mutations_only_raise_strip_error(fmt: str, clean_samples) -> None:  # noqa: ANN001
    """A small in-test fuzz: random byte flips, inserts and cuts never escape as other errors."""
    dirty, clean = clean_samples[fmt]
    strip = importlib.import_module(f"blindspot.media.strip.{fmt.lower()}").strip
    rng = random.Random(f"blindspot-{fmt}")
    for i in range(300):
        buf = bytearray(dirty if i % 2 else clean)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(buf))
            op = rng.random()
            if op < 0.6:
                buf[pos] = rng.randrange(256)
            elif op < 0.8:
                buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                del buf[pos : pos + rng.randint(1, 64)]
        try:  # call the format module itself: no safety net converting stray exceptions
            out = strip(bytes(buf))
        except StripError as exc:
            assert "\n" not in str(exc) and str(exc)
            continue
        assert isinstance(out, bytes)
        assert strip(out) == out  # output of a success is itself well-formed


def test_jpeg_truncated_icc_chunks() -> None:
    segs = _jpeg_segments(_dirty_jpeg(big_icc=True))
    icc = [s for m, s in segs if m == 0xE2 and b"ICC_PROFILE" in s[:16]]
    data = _dirty_jpeg(big_icc=True).replace(icc[1], b"")
    with pytest.raises(StripError, match="ICC"):
        strip_metadata(data, "JPEG")
