"""The audit's second reader: Tesseract 5, run as a command (`tesseract`, Apache-2.0).

Tesseract shares nothing with blindspot's text detector or PP-OCR's recognizer (its own page
layout analysis and LSTM line recognizer), so it reads the output with other eyes than the ones
that chose what to cover. It is not a Python dependency: the Debian packages `tesseract-ocr`,
`tesseract-ocr-eng` and `tesseract-ocr-rus` (or any Tesseract 4 or 5 on PATH with `eng` or
`rus`) are enough; without it the audit reads with blindspot's own reader only, and says so.

An image goes to the command through a pipe (PPM on stdin; many crops as one multi-page TIFF)
and the words come back as TSV on stdout: nothing is written to disk. Page segmentation mode 11
(sparse text: scattered words, as in a photo) for a whole picture, 6 (one block) for crops; the
LSTM engine; one thread per call (calls run side by side instead).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from ..errors import BlindspotError

LANGUAGES = ("eng", "rus")  # wanted; those installed are used
TIMEOUT = 120.0  # seconds per call
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus"

RawWord = tuple[tuple[float, float, float, float], str, float]  # (x, y, w, h), text, 0..1


def executable() -> str | None:
    """The `tesseract` command on PATH, or None."""
    return shutil.which("tesseract")


@lru_cache(maxsize=4)
def _languages(command: str) -> tuple[str, ...]:
    try:
        done = subprocess.run([command, "--list-langs"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    have = {line.strip() for line in (done.stdout + done.stderr).splitlines()}
    return tuple(lang for lang in LANGUAGES if lang in have)


def languages() -> tuple[str, ...]:
    """The wanted languages Tesseract has installed (empty: no usable Tesseract)."""
    command = executable()
    return _languages(command) if command else ()


def available() -> bool:
    """Whether Tesseract is on PATH with at least one of `LANGUAGES`."""
    return bool(languages())


def version() -> str:
    """Tesseract's version line ("tesseract 5.3.0"), or "" without it."""
    command = executable()
    return _version(command) if command else ""


@lru_cache(maxsize=4)
def _version(command: str) -> str:
    try:
        done = subprocess.run([command, "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""


def read(rgb: np.ndarray, psm: int = 11) -> list[RawWord]:
    """Every word Tesseract reads in `rgb` (H×W×3 uint8 RGB), whatever its confidence, with
    its box in `rgb`'s pixels; page segmentation mode 11 (sparse text) by default."""
    ok, ppm = cv2.imencode(".ppm", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise BlindspotError("could not hand the picture to tesseract")
    return _run(ppm.tobytes(), psm).get(1, [])


def read_pages(images: Sequence[np.ndarray], psm: int = 6) -> list[list[RawWord]]:
    """The words of each image, all in one call (a multi-page TIFF on stdin); page
    segmentation mode 6 (one block of text: a crop around a word or a line)."""
    if not images:
        return []
    pages = [Image.fromarray(np.ascontiguousarray(image)) for image in images]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    found = _run(buffer.getvalue(), psm)
    return [found.get(n, []) for n in range(1, len(images) + 1)]


def _run(data: bytes, psm: int) -> dict[int, list[RawWord]]:
    command, langs = executable(), languages()
    if not command or not langs:
        raise BlindspotError(f"tesseract is not installed (Debian: {INSTALL})")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run([command, "stdin", "stdout", "-l", "+".join(langs), "--oem", "1",
                               "--psm", str(psm), "tsv"], input=data,
                              capture_output=True, timeout=TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise BlindspotError(f"tesseract took more than {TIMEOUT:.0f} s") from None
    except OSError as e:
        raise BlindspotError(f"tesseract could not run: {e}") from None
    if done.returncode != 0:
        raise BlindspotError("tesseract failed: "
                             + done.stderr.decode("utf-8", "replace").strip()[-300:])
    return parse_pages(done.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> list[RawWord]:
    """The words (level 5 rows with text) of Tesseract's TSV output, of its first page."""
    return parse_pages(tsv).get(1, [])


def parse_pages(tsv: str) -> dict[int, list[RawWord]]:
    """The words (level 5 rows with text) of Tesseract's TSV output, by page (from 1)."""
    pages: dict[int, list[RawWord]] = {}
    for line in tsv.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            page = int(cells[1])
            x, y, w, h = (float(v) for v in cells[6:10])
            confidence = float(cells[10])
        except ValueError:
            continue
        if confidence >= 0:
            pages.setdefault(page, []).append(((x, y, w, h), cells[11].strip(),
                                               confidence / 100))
    return pages


def read_all(images: Sequence[np.ndarray], workers: int | None = None) -> list[list[RawWord]]:
    """`read` of each image, side by side (one process each, at most `workers` at a time:
    the CPUs by default)."""
    if not images:
        return []
    workers = workers or max(1, min(len(images), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(read, images))


def read_pages_split(images: Sequence[np.ndarray], parts: int | None = None
                     ) -> list[list[RawWord]]:
    """`read_pages` of `images` in `parts` calls side by side (the CPUs by default)."""
    parts = max(1, min(len(images), parts or os.cpu_count() or 1))
    if parts <= 1:
        return read_pages(images)
    size = -(-len(images) // parts)
    chunks = [images[i:i + size] for i in range(0, len(images), size)]
    with ThreadPoolExecutor(len(chunks)) as pool:
        return [found for part in pool.map(read_pages, chunks) for found in part]
