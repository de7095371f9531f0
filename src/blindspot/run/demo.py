"""`blindspot demo`: anonymize an example photo built from scikit-image's astronaut picture.

The example is written with real identifying metadata (GPS position, camera make, model,
serial number, date, owner) so the demo shows both halves of the job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from ..errors import BlindspotError
from ..wording import install_hint
from .pipeline import anonymize_file


def build_example(path: Path) -> Path:
    """Write the example JPEG (astronaut Eileen Collins, NASA, public domain) to `path`."""
    try:
        from skimage import data
    except ImportError:
        raise BlindspotError(f"the demo needs scikit-image: {install_hint('demo')}"
                             ) from None
    image = Image.fromarray(data.astronaut())
    exif = Image.Exif()
    exif[0x010F] = "ExampleCam"  # Make
    exif[0x0110] = "X100 Pro"  # Model
    exif[0x0132] = "2026:05:01 14:03:22"  # DateTime
    exif[0x013B] = "Jane Example"  # Artist
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0xA431] = "SN-0012345678"  # BodySerialNumber
    exif_ifd[0x9003] = "2026:05:01 14:03:22"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.34)  # latitude
    gps[3], gps[4] = "E", (13.0, 24.0, 34.56)  # longitude
    image.save(path, "JPEG", quality=95, exif=exif)
    return path


def run_demo(folder: Path | None = None, cover: tuple[str, ...] | None = None
             ) -> Iterator[str]:
    """Build the example, anonymize it (covering `cover`, default: `Options.cover`), and say
    where both are."""
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="blindspot-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = build_example(folder / "astronaut.jpg")
    output = folder / "astronaut.anon.jpg"
    from ..options import Options
    options = Options(overwrite=True) if cover is None else Options(cover=cover, overwrite=True)
    result = anonymize_file(source, output, options)
    yield result.summary()
    yield f"example: {source}"
    yield f"result:  {output}"
