"""Seed inputs for the fuzz targets, generated (nothing binary is committed).

    python fuzz/seeds.py            # writes fuzz/corpus/<target>/seed-*

Each seed is a small, valid file of its kind carrying the metadata the strippers must remove
(EXIF with GPS, XMP, ICC profile, comments, text chunks, animation), so the fuzzer starts
inside the code paths that matter instead of at the signature check.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

HERE = Path(__file__).resolve().parent


def _image(size: tuple[int, int] = (16, 12), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Make"
    exif[0x0110] = "Model"
    exif[0x0132] = "2024:05:01 12:00:00"
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)
    return exif.tobytes()


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def jpeg_seeds() -> dict[str, bytes]:
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Jane</x:xmpmeta>"
    plain = _save(_image(), "JPEG", quality=80)
    full = _save(_image(), "JPEG", quality=80, exif=_exif(), icc_profile=_icc(),
                 comment=b"met at the square", progressive=True)
    with_xmp = full[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + full[2:]
    grey = _save(_image(mode="L"), "JPEG", restart_marker_blocks=1)
    cmyk = _save(_image(mode="CMYK"), "JPEG")
    return {"plain": plain, "full": with_xmp, "grey": grey, "cmyk": cmyk}


def png_seeds() -> dict[str, bytes]:
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("Comment", "met at the square", zip=True)
    full = _save(_image(), "PNG", pnginfo=info, icc_profile=_icc(), exif=_exif())
    time_chunk = _png_chunk(b"tIME", bytes(7))
    full = full[:-12] + time_chunk + full[-12:]
    frames = [_image(), _image().rotate(90)]
    apng = _save(frames[0], "PNG", save_all=True, append_images=frames[1:])
    return {"full": full, "palette": _save(_image().convert("P"), "PNG", transparency=0),
            "grey16": _save(Image.new("I;16", (8, 8), 300), "PNG"), "apng": apng,
            "rgba": _save(_image(mode="RGBA"), "PNG")}


def webp_seeds() -> dict[str, bytes]:
    frames = [_image(), _image().rotate(90)]
    return {
        "lossy": _save(_image(), "WEBP", quality=50, exif=_exif(), icc_profile=_icc(),
                       xmp=b"<x:xmpmeta>Jane</x:xmpmeta>"),
        "lossless": _save(_image(mode="RGBA"), "WEBP", lossless=True),
        "anim": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                      duration=[50, 80], loop=2, exif=_exif()),
    }


def gif_seeds() -> dict[str, bytes]:
    frames = [_image().convert("P"), _image().rotate(90).convert("P")]
    anim = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=70,
                 loop=0, comment=b"met at the square")
    return {"anim": anim, "still": _save(_image().convert("P"), "GIF", transparency=3)}


def icc_seeds() -> dict[str, bytes]:
    seeds = {"srgb": _icc(), "lab": ImageCms.ImageCmsProfile(
        ImageCms.createProfile("LAB")).tobytes()}
    try:
        seeds["xyz"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()
    except ImageCms.PyCMSError:
        pass
    return seeds


def source_seeds() -> dict[str, bytes]:
    seeds = {f"png-{k}": v for k, v in png_seeds().items()}
    seeds["png-interlaced"] = _interlaced_png()
    seeds["png-16bit-rgb"] = _png_16bit_rgb()
    # A few other formats, so the fuzzer also reaches the decoders' other paths.
    seeds["jpeg"] = jpeg_seeds()["full"]
    seeds["gif"] = gif_seeds()["anim"]
    seeds["webp"] = webp_seeds()["anim"]
    seeds["tiff"] = _save(_image(), "TIFF", compression="tiff_deflate")
    seeds["bmp"] = _save(_image(), "BMP")
    return seeds


def sound_seeds() -> dict[str, bytes]:
    """A short tone in each sound format (the first byte picks the file's extension, as the
    target reads it)."""
    import sys as _sys
    import tempfile

    import numpy as np
    _sys.path.insert(0, str(HERE.parent / "tests"))
    from soundfiles import TAGS, write_sound
    suffixes = (".wav", ".flac", ".mp3", ".m4a", ".ogg")
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    seeds = {}
    with tempfile.TemporaryDirectory() as folder:
        for index, suffix in enumerate(suffixes):
            path = write_sound(Path(folder) / f"tone{suffix}", tone, 16000, TAGS)
            seeds[suffix[1:]] = bytes([index]) + path.read_bytes()
    return seeds


def _interlaced_png() -> bytes:
    """An Adam7-interlaced 8×8 grey PNG (Pillow cannot write interlaced PNGs)."""
    rows = b""
    for width, height in ((1, 1), (1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4)):
        rows += (b"\x00" + bytes(range(width))) * height
    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def _png_16bit_rgb() -> bytes:
    header = struct.pack(">IIBBBBB", 4, 3, 16, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(range(24)) for _ in range(3))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def options_seeds() -> dict[str, bytes]:
    """Argument lists, NUL-separated (what fuzz_options.py splits on)."""
    lines = [
        "photo.jpg\0--mode\0mosaic\0--threshold\0000.2\0--mask-scale\0001.6",
        "clean\0a.jpg\0-o\0out/\0--max-pixels\0001000",
        "detect\0x.png\0--json\0--threshold\0nan",
        "clip.mp4\0--crf\00018\0--detect-every\0003\0--max-duration\0001e9\0--no-audio",
        "a.jpg\0--report\0r.json\0--report-hashes\0--max-frames\00010",
    ]
    return {f"argv{i}": line.encode() for i, line in enumerate(lines)}


def report_seeds() -> dict[str, bytes]:
    return {"zeros": bytes(64), "ramp": bytes(range(256))}


def review_seeds() -> dict[str, bytes]:
    """Review states (`blindspot.review.state`), as the page saves them."""
    import json
    face = {"id": "f1", "source": "detected", "keep": True, "mode": "solid", "start": 0,
            "end": 9, "keys": [[0, 10, 12, 40, 50], [9, 20.5, 12, 50, 52.25]], "score": 0.8}
    drawn = {"id": "d", "source": "drawn", "keep": False, "mode": "blur", "start": 3, "end": 3,
             "keys": [[3, -5, -5, 20, 20]]}
    video = {"blindspot_review": 1, "name": "clip.mp4", "width": 64, "height": 48,
             "frames": 10, "mode": "solid", "reviewed": True, "faces": [face, drawn]}
    photo = {"blindspot_review": 1, "name": "p.jpg", "width": 640, "height": 480,
             "frames": 1, "mode": "mosaic", "reviewed": False,
             "faces": [{**face, "end": 0, "keys": [[0, 1, 2, 300, 400]]}]}
    return {"video": json.dumps(video).encode(), "photo": json.dumps(photo).encode()}


TARGETS = {
    "jpeg": jpeg_seeds, "png": png_seeds, "webp": webp_seeds, "gif": gif_seeds,
    "icc": icc_seeds, "source": source_seeds, "options": options_seeds,
    "report": report_seeds, "review": review_seeds, "sound": sound_seeds,
}


def write_seeds(root: Path = HERE / "corpus") -> None:
    for target, make in TARGETS.items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in make().items():
            (folder / f"seed-{name}").write_bytes(blob)


if __name__ == "__main__":
    write_seeds(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus")
