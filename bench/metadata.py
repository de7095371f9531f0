"""Metadata benchmark: identifying tags before and after, as exiftool sees them.

    python bench/metadata.py [FOLDER]     (default ../shared/data/exif_gps)

For every photo in FOLDER: the number of identifying tags exiftool finds in the original, and
in blindspot's anonymized and cleaned outputs (both must be 0), or the one-line error.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from blindspot import BlindspotError, anonymize_file, clean_file
from blindspot.media.photo_sink import PHOTO_EXTENSIONS
from blindspot.media.residue import exiftool_available, exiftool_tags, identifying_tags
from blindspot.run.outputs import walk_media

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "exif_gps"


def _count(path: Path) -> str:
    found = identifying_tags(exiftool_tags(path))
    return str(len(found)) if not found else f"{len(found)} ({', '.join(found[:3])}…)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    args = parser.parse_args()
    if not exiftool_available():
        sys.exit("exiftool is needed: apt-get install libimage-exiftool-perl")
    print("| photo | identifying tags in original | after `blindspot` | after `blindspot clean` |")
    print("|---|---:|---:|---:|")
    leaks = 0
    with tempfile.TemporaryDirectory() as tmp:
        for photo in walk_media(args.folder, PHOTO_EXTENSIONS):
            cells = [photo.name, str(len(identifying_tags(exiftool_tags(photo))))]
            for name, work in (("anon", anonymize_file), ("clean", clean_file)):
                out = Path(tmp) / f"{photo.stem}.{name}{photo.suffix}"
                try:
                    work(photo, out)
                except BlindspotError as e:
                    cells.append(f"error: {e.reason}")
                    continue
                cell = _count(out)
                leaks += cell != "0"
                cells.append(cell)
            print("| " + " | ".join(cells) + " |")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
