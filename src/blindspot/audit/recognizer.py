"""blindspot's own reader in the audit: PP-OCRv4's recognizer (the model `detect.reading`
ships) reading lines anywhere in a view, word by word.

The model reads one line at a time (48 px high). The audit gives it lines from several
sources (`text.read_picture`), in any view, so it is not limited to the boxes the text
detector found. Its output is decoded here (greedy CTC, as `detect.reading`) and split into
words at long gaps (the spaces it reads stay inside a word: a plate is one string); a
word's confidence is the mean probability of its characters, and its place along the line the
time steps its characters were read at (8 network pixels each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from .views import Box, View, Word, word

HEIGHT = 48  # the model's input height
STEP = 8  # network pixels per time step of its output
MIN_WIDTH = 320
MAX_WIDTH = 2560  # a longer line is read in pieces
BATCH = 6
# Two characters more than this many time steps apart (64 network px, 4/3 of a line's
# height) are two words.
GAP_STEPS = 8


@lru_cache(maxsize=1)
def _reader():  # noqa: ANN202 - detect.reading.TextReader, imported late: audit-only cost
    from ..detect.reading import TextReader
    return TextReader()


def read_lines(rgb: np.ndarray, lines: Sequence[tuple[View, Box]]) -> list[list[Word]]:
    """The words read in each line: `(view, box)`, the box in the view's pixels (a line's
    box, its height about 1.5 to 2 times the letters'); boxes longer than MAX_WIDTH network
    pixels are read in overlapping pieces."""
    pieces: list[tuple[View, Box]] = []
    owner: list[int] = []
    for n, (view, (x, y, w, h)) in enumerate(lines):
        if w < 2 or h < 2:
            continue
        longest = MAX_WIDTH * h / HEIGHT
        if w <= longest:
            pieces.append((view, (x, y, w, h)))
            owner.append(n)
            continue
        count = math.ceil((w - h) / (longest - h))
        step = (w - longest) / max(1, count - 1)
        pieces += [(view, (x + i * step, y, longest, h)) for i in range(count)]
        owner += [n] * count
    crops = [_crop(rgb, view, box) for view, box in pieces]
    order = np.argsort([c.shape[1] for c in crops], kind="stable")
    reader = _reader()
    words: list[list[Word]] = [[] for _ in lines]
    for start in range(0, len(order), BATCH):
        batch = order[start:start + BATCH]
        width = max(MIN_WIDTH, *(crops[i].shape[1] for i in batch))
        blob = np.zeros((len(batch), 3, HEIGHT, width), np.float32)
        for row, i in enumerate(batch):
            c = crops[i]
            blob[row, :, :, :c.shape[1]] = (c[:, :, ::-1].astype(np.float32) / 127.5 - 1
                                             ).transpose(2, 0, 1)
        with reader._lock:
            (probs,) = reader.session.run(None, {"x": blob})
        for row, i in enumerate(batch):
            view, (x, y, w, h) = pieces[i]
            k = crops[i].shape[1] / w  # network px per view px
            for text, confidence, a, b in _words(probs[row], reader.characters,
                                                 crops[i].shape[1]):
                pad = 0.25 * h
                x1 = max(x, x + a / k - pad)
                x2 = min(x + w, x + b / k + pad)
                words[owner[i]].append(word("pp-ocr", view, rgb.shape, (x1, y, x2 - x1, h),
                                            text, confidence, lines[owner[i]][1]))
    return words


def _crop(rgb: np.ndarray, view: View, box: Box) -> np.ndarray:
    """The line as the model reads it: HEIGHT px high, its width scaled alike."""
    x, y, w, h = box
    crop = view.render(rgb, (x, y, w, h))
    width = max(8, min(MAX_WIDTH, round(HEIGHT * crop.shape[1] / max(1, crop.shape[0]))))
    interp = cv2.INTER_CUBIC if crop.shape[0] < HEIGHT else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(crop), (width, HEIGHT), interpolation=interp)


def _words(probs: np.ndarray, characters: list[str], width: int
           ) -> list[tuple[str, float, float, float]]:
    """Greedy CTC decoding of one line's T×C probabilities into words: (text, confidence,
    first and last network pixel). A word ends where two characters lie more than GAP_STEPS
    time steps apart (a cover, a wide gap); the spaces the model reads inside one stay in it
    (a plate's "KA 4821 B" is one string, as `plate_like` wants it)."""
    steps = min(len(probs), math.ceil(width / STEP) + 1)
    best = probs[:steps].argmax(axis=1)
    top = probs[:steps].max(axis=1)
    out: list[tuple[str, float, float, float]] = []
    chars: list[tuple[int, str, float]] = []

    def flush() -> None:
        kept = [(t, c, p) for t, c, p in chars if c.strip()]
        if kept:
            text = " ".join("".join(c for _, c, _ in chars).split())
            out.append((text, float(np.mean([p for _, _, p in kept])),
                        kept[0][0] * STEP, (kept[-1][0] + 1) * STEP))
        chars.clear()

    last, previous = -GAP_STEPS - 1, 0
    for t, index in enumerate(best.tolist()):
        if index == 0 or index == previous:
            previous = index
            continue
        previous = index
        char = characters[index] if index < len(characters) else ""
        if not char:
            continue
        if char.strip() and t - last > GAP_STEPS:
            flush()
        chars.append((t, char, float(top[t])))
        if char.strip():
            last = t
    flush()
    return out
