"""`--report FILE.json`: what blindspot did to each file, for the person who publishes it.

Per file: the settings, the models, counts (per kind covered, and text left visible), and per
frame the boxes that were covered. Files
are named by their output only: an input's name or hash links the published file to the
original (on a seized phone, say), so they are written only with `--report-hashes`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from .. import __version__
from ..detect.faces import MODEL_NAME, MODEL_SHA256
from ..detect.people import MODEL_FILE as PEOPLE_MODEL_NAME
from ..detect.people import MODEL_SHA256 as PEOPLE_MODEL_SHA256
from ..detect.text import MODEL_FILE as TEXT_MODEL_NAME
from ..detect.text import MODEL_SHA256 as TEXT_MODEL_SHA256
from ..media.atomic import atomic_output
from ..options import Options
from .pipeline import FileResult


def file_entry(result: FileResult, with_hashes: bool) -> dict:
    """The report of one file."""
    entry: dict = {
        "output": result.output.name if result.output else None,
        "frames": result.frames,
        "faces": result.faces,
        "uncertain": result.uncertain,
        "covered": result.covered,
        "left_visible": result.left,
        **({"speech": [[round(s.start, 2), round(s.end, 2), voice]
                       for s, voice in result.speech_edits]}
           if result.speech is not None else {}),
        "boxes_covered": sum(len(d) for d in result.detections),
        "metadata_removed": result.metadata_removed,
        "frames_boxes": [d.to_xywh() for d in result.detections],
    }
    if with_hashes:
        entry["input"] = str(result.source)
        entry["input_sha256"] = _sha256(result.source)
        if result.output is not None:
            entry["output_sha256"] = _sha256(result.output)
    return entry


def build_report(results: list[FileResult], options: Options, with_hashes: bool) -> dict:
    """The whole report: settings and model once, then one entry per file."""
    settings = dataclasses.asdict(options)
    settings.pop("overwrite", None)
    return {
        "blindspot": __version__,
        "model": {"name": MODEL_NAME, "sha256": MODEL_SHA256},
        **({"text_model": {"name": TEXT_MODEL_NAME, "sha256": TEXT_MODEL_SHA256}}
           if options.finds_text() else {}),
        **({"people_model": {"name": PEOPLE_MODEL_NAME, "sha256": PEOPLE_MODEL_SHA256}}
           if options.finds_people() else {}),
        "settings": settings,
        "box_format": "[x, y, w, h, score, kind] in displayed pixels, before the mask margin",
        "files": [file_entry(r, with_hashes) for r in results],
    }


def write_report(path: Path, results: list[FileResult], options: Options,
                 with_hashes: bool = False) -> None:
    """Write the report atomically (replacing an older report at `path`)."""
    data = json.dumps(build_report(results, options, with_hashes), indent=1)
    with atomic_output(path, overwrite=True) as f:
        f.write(data.encode())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
