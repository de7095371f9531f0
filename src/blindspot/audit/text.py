"""The audit's text check: read what text is left in an output, the way an attacker would, with
other eyes than the detector that chose what to cover.

Two readers that share nothing read each picture (`read_picture`), in several views (`views`):

- Tesseract 5 (`tesseract`, when installed) reads the whole picture as it is, upscaled 2×
  (small text), turned by ±15° and ±30° (tilted text) and by ±90° (`TESSERACT_VIEWS`).
- Then both readers, Tesseract and blindspot's own (PP-OCRv4's recognizer, `recognizer`), read
  crops: the boxes of blindspot's text detector (what the check read before), the places
  where Tesseract saw something word-like in a whole view whatever it read there (other eyes
  choosing where to look, `_proposals`), and the rims of round badges: circles OpenCV's Hough
  transform finds (a mission patch, a club's crest), their rims unrolled into straight strips
  (`detect.badges.Ring`) read along the top and along the bottom, and each line the detector
  finds on such a strip (names along a rim).

Every word is kept with its reader, its view and its place; its text stays in memory: the
findings give a word's place and length, never what it says (a report must not become the
leak).

With the original, "where the original has text" decides: the original is read first (all
readers, all views); every word read there with confidence (`Rules.readable`) is read again in
the output by the same reader shown the same thing (`reread`: the same crop of the same view,
or the same whole view and a crop around the word); the output still holds the word when that
reading is readable too, lies over it and resembles it (`distance` at most `Rules.similar`). A
reader's guess on a black cover, or anything the original does not hold there, is not text
left. Without the original every readable word of the output is text left (stricter
confidences: nothing tells a guess from a word). Text left is a FAIL for what the output was
meant to cover (`--cover`): any with "text", plate-like strings with "plates".
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..detect.badges import badges, rim_views
from ..detections import iou_matrix
from . import tesseract
from .recognizer import read_lines
from .views import Box, Turn, View, Word, word

# Tesseract's views of the whole picture: as it is, 2× (small text: Tesseract reads letters
# from about 20 px high best), turned both ways (tilted text) and upright (vertical text).
TESSERACT_VIEWS = (Turn(0, 1), Turn(0, 2), Turn(15, 1), Turn(-15, 1), Turn(30, 1), Turn(-30, 1),
                   Turn(90, 1), Turn(-90, 1))
TESSERACT_MAX_PIXELS = 6_000_000  # a view is scaled down to fit
TURNED_MAX_PIXELS = 2_000_000  # a turned one to this
# Lines for blindspot's reader from Tesseract's word boxes: at most this many, the surest
# first, none lower than this many px.
PROPOSALS = 20
PROPOSAL_MIN_HEIGHT = 6.0
# Tesseract is shown each crop enlarged to this height at least (it reads letters of about
# 20 px and more best).
CROP_HEIGHT = 64.0


@dataclass(frozen=True)
class TextLeft:
    """A word read in the output: where, how long, how sure. Never what it says."""

    frame: int
    box: tuple[float, float, float, float]  # x, y, w, h in the output's displayed pixels
    length: int  # letters and digits read
    confidence: float
    plate_like: bool
    reader: str  # "tesseract" or "pp-ocr"
    in_original: bool  # read at the place of a resembling word of the original


def readers() -> list[str]:
    """The readers the text check uses here."""
    out = ["blindspot's reader (PP-OCRv4)"]
    if tesseract.available():
        name = tesseract.version() or "tesseract"
        out.append(f"{name.replace('tesseract', 'Tesseract', 1)} "
                   f"({'+'.join(tesseract.languages())})")
    return out


# ---------------------------------------------------------------------------- reading


@lru_cache(maxsize=1)
def _detector():  # noqa: ANN202 - detect.text.TextDetector, imported late: audit-only cost
    from ..detect.text import TextDetector
    return TextDetector()


def read_picture(rgb: np.ndarray, use_tesseract: bool | None = None) -> list[Word]:
    """Every word the readers read in `rgb` (H×W×3 uint8 RGB), whatever its confidence."""
    if use_tesseract is None:
        use_tesseract = tesseract.available()
    words: list[Word] = []
    if use_tesseract:
        views = [_fit(view, rgb.shape) for view in TESSERACT_VIEWS]
        for view, raw in zip(views, tesseract.read_all([v.render(rgb) for v in views]),
                             strict=True):
            words += [word("tesseract", view, rgb.shape, box, text, conf)
                      for box, text, conf in raw]
    crops = _crops(rgb, words)
    return words + [w for found in read_crops(rgb, crops, use_tesseract) for w in found]


def _crops(rgb: np.ndarray, words: list[Word]) -> list[tuple[View, Box]]:
    """Where both readers look closely: the boxes of blindspot's text detector, the places
    where Tesseract saw a word whatever it read there (`_proposals`), and the rims of round
    badges (the middle three fifths of each strip: the text along its top, or its bottom; and
    each line the detector finds on a strip)."""
    whole = Turn(0, 1)
    crops: list[tuple[View, Box]] = []
    rim_lines = _detector().rim_lines(rgb)
    for x1, y1, x2, y2 in _detector().detect(rgb, rim_lines).boxes.tolist():
        # As the detector gives them: it grows its text regions by half already; more room
        # (a plate's frame) made PP-OCR read plates less surely.
        crops.append((whole, (x1, y1, x2 - x1, y2 - y1)))
    crops += _proposals(words, (rgb.shape[1], rgb.shape[0]))
    for circle in badges(rgb):
        for ring in rim_views(circle):
            sw, sh = ring.size()
            crops.append((ring, (0.2 * sw, 0, 0.6 * sw, sh)))
    # and each line the detector finds along a rim, as one line (names too small for the
    # whole strip's reading)
    for ring, (x1, y1, x2, y2), _ in rim_lines:
        crops.append((ring, (float(x1), float(y1), float(x2 - x1), float(y2 - y1))))
    return crops


def read_crops(rgb: np.ndarray, crops: Sequence[tuple[View, Box]],
               use_tesseract: bool | None = None) -> list[list[Word]]:
    """The words both readers read in each crop (`(view, box)`, the box in the view's
    pixels): blindspot's reader as one line, Tesseract as one block of text (the crops
    enlarged to CROP_HEIGHT px at least, up to 4×, all in one call per CPU)."""
    if use_tesseract is None:
        use_tesseract = tesseract.available()
    out = read_lines(rgb, crops)
    if use_tesseract and crops:
        zoom = [min(4.0, max(1.0, CROP_HEIGHT / max(1.0, box[3]))) for _, box in crops]
        images = []
        for (view, box), k in zip(crops, zoom, strict=True):
            image = view.render(rgb, box)
            images.append(cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
                          if k > 1 else image)
        for i, ((view, box), k, raw) in enumerate(zip(crops, zoom,
                                                      tesseract.read_pages_split(images),
                                                      strict=True)):
            out[i] = out[i] + [word("tesseract", view, rgb.shape,
                                    (box[0] + bx / k, box[1] + by / k, bw / k, bh / k),
                                    text, conf, box)
                               for (bx, by, bw, bh), text, conf in raw]
    return out


def reread(rgb: np.ndarray, words: Sequence[Word], use_tesseract: bool | None = None
           ) -> list[list[Word]]:
    """For each of `words` (read in a picture of `rgb`'s size), what the same reader reads
    in `rgb` shown the same thing: the same crop of the same view; for a word Tesseract read
    in a whole view, the same whole view and the crop `_around` the word (Tesseract reads
    either alike only three times in four when the rest of the picture changed: its page
    layout sees other things)."""
    if use_tesseract is None:
        use_tesseract = tesseract.available()
    keys: dict[tuple[View, Box], int] = {}
    wholes: dict[View, int] = {}
    owners: list[list[tuple[str, int, str]]] = []
    for found in words:
        mine: list[tuple[str, int, str]] = []
        if found.reader == "tesseract" and not use_tesseract:
            pass
        elif found.crop is None:
            mine.append(("whole", wholes.setdefault(found.view, len(wholes)), found.reader))
            key = (found.view, _around(found))
            mine.append(("crop", keys.setdefault(key, len(keys)), found.reader))
        else:
            key = (found.view, found.crop)
            mine.append(("crop", keys.setdefault(key, len(keys)), found.reader))
        owners.append(mine)
    views = list(wholes)
    with ThreadPoolExecutor(1) as pool:  # Tesseract's whole views beside the crops
        whole_read = pool.submit(lambda: tesseract.read_all([v.render(rgb) for v in views]))
        per_crop = read_crops(rgb, list(keys), use_tesseract) if keys else []
        per_view = [[word("tesseract", view, rgb.shape, box, text, conf)
                     for box, text, conf in raw]
                    for view, raw in zip(views, whole_read.result(), strict=True)]
    return [[w for where, index, reader in mine
             for w in (per_view[index] if where == "whole" else per_crop[index])
             if w.reader == reader] for mine in owners]


def _fit(view: Turn, shape: tuple[int, ...]) -> Turn:
    """`view`, scaled down so that it holds at most TESSERACT_MAX_PIXELS (turned:
    TURNED_MAX_PIXELS)."""
    w, h = view.size(shape)
    most = TESSERACT_MAX_PIXELS if view.angle == 0 else TURNED_MAX_PIXELS
    if w * h <= most:
        return view
    return Turn(view.angle, view.scale * (most / (w * h)) ** 0.5)


def _proposals(words: list[Word], size: tuple[int, int]) -> list[tuple[View, Box]]:
    """Crops where Tesseract saw a word in a whole view, whatever it read (`_around` it):
    the surest first, at most PROPOSALS, none overlapping a surer one by half in the
    picture."""
    kept: list[Word] = []
    for found in sorted(words, key=lambda t: -t.confidence):
        if found.crop is not None or found.chars < 1:
            continue
        x, y, w, h = found.box
        if found.view_box[3] / _scale(found.view) < PROPOSAL_MIN_HEIGHT or w * h <= 0:
            continue
        if w > 0.9 * size[0] or h > 0.9 * size[1]:
            continue
        if any(_iou(found.box, other.box) > 0.5 for other in kept):
            continue
        kept.append(found)
        if len(kept) >= PROPOSALS:
            break
    return [(found.view, _around(found)) for found in kept]


def _around(found: Word) -> Box:
    """The crop around a word read in a whole view: half its height more each side, a third
    above and below."""
    x, y, w, h = found.view_box
    return (x - h / 2, y - h / 3, w + h, h * 5 / 3)


def _scale(view: View) -> float:
    return view.scale if isinstance(view, Turn) else view.k


def _iou(a: Box, b: Box) -> float:
    """The IoU of two x, y, w, h boxes."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    return float(iou_matrix([ax, ay, ax + aw, ay + ah], [bx, by, bx + bw, by + bh])[0, 0])


# ---------------------------------------------------------------------------- judging


def distance(a: str, b: str) -> float:
    """How unlike two readings are: the edit distance of the shorter one's letters and digits
    (case aside) to the closest stretch of the longer one's, over the shorter one's length. 0:
    the one is in the other; 1: nothing alike. (A reader shown the same letters again may read
    a line as one string once and as its words another time.)"""
    a = "".join(c for c in a.casefold() if c.isalnum())
    b = "".join(c for c in b.casefold() if c.isalnum())
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return 0.0 if a == b else 1.0
    # Edit distance of `a` to a stretch of `b`: starting and ending anywhere in `b` is free.
    row = [0] * (len(b) + 1)
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (ca != cb))
    return min(row) / len(a)


def overlap(a: Box, b: Box) -> float:
    """The share of the smaller box that lies in the other."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    smaller = min(aw * ah, bw * bh)
    return iw * ih / smaller if smaller > 0 else 0.0


@dataclass(frozen=True)
class Rules:
    """When a word counts as read: at least `min_chars` letters or digits, with at least the
    reader's confidence; and, with the original, when it is the original's word."""

    pp_ocr: float = 0.8
    tesseract: float = 0.8
    min_chars: int = 3
    similar: float = 0.5  # the largest normalised edit distance to the original's word
    overlap: float = 0.5  # the share of the smaller box inside the other

    def readable(self, found: Word) -> bool:
        threshold = self.tesseract if found.reader == "tesseract" else self.pp_ocr
        return found.chars >= self.min_chars and found.confidence >= threshold


def text_left(output: np.ndarray, original: np.ndarray | None, rules: Rules,
              use_tesseract: bool | None = None) -> list[tuple[Word, bool]]:
    """The words read in `output` (with `original`: the original's words read again there,
    and resembling them), each with whether it is at the place of a word of the original."""
    if original is None:
        return _unique([(w, False) for w in read_picture(output, use_tesseract)
                        if rules.readable(w)])
    if original.shape[:2] != output.shape[:2]:
        original = cv2.resize(original, (output.shape[1], output.shape[0]),
                              interpolation=cv2.INTER_AREA)
    return left_of(output, read_picture(original, use_tesseract), rules, use_tesseract)


def left_of(output: np.ndarray, original_words: Sequence[Word], rules: Rules,
            use_tesseract: bool | None = None) -> list[tuple[Word, bool]]:
    """The words of the original (`original_words`, read by `read_picture` in a picture of
    the output's size) that are read again in `output`, at their place, resembling them."""
    sure = [w for w in original_words if rules.readable(w)]
    left = []
    for before, again in zip(sure, reread(output, sure, use_tesseract), strict=True):
        found = left_at(before, again, rules)
        if found is not None:
            left.append((found, True))
    return _unique(left)


def left_at(before: Word, again: Sequence[Word], rules: Rules) -> Word | None:
    """The word of `again` (read at the place of the original's word `before`) that is that
    word read again: readable, over it, resembling it; None when there is none."""
    for found in again:
        if (rules.readable(found) and overlap(found.box, before.box) >= rules.overlap
                and distance(found.text, before.text) <= rules.similar):
            return found
    return None


def _unique(found: list[tuple[Word, bool]]) -> list[tuple[Word, bool]]:
    """One finding per place: a word overlapping a surer one by half is left out."""
    kept: list[tuple[Word, bool]] = []
    for item in sorted(found, key=lambda f: -f[0].confidence):
        if not any(_iou(item[0].box, other[0].box) > 0.5 for other in kept):
            kept.append(item)
    return kept


def read_left(rgb: np.ndarray, frame: int, rules: Rules, original: np.ndarray | None = None,
              thorough: bool = True) -> list[TextLeft]:
    """The readable text in `rgb` (an output frame), as findings that never carry the text.
    Not `thorough` (the output was not meant to cover text: it is reported, not failed):
    blindspot's reader on its detector's boxes only, as the audit read before Tesseract."""
    from ..detect.reading import plate_like
    if thorough:
        found = text_left(rgb, original, rules)
    else:
        whole = Turn(0, 1)
        boxes = [(whole, (x1, y1, x2 - x1, y2 - y1))
                 for x1, y1, x2, y2 in _detector().detect(rgb).boxes.tolist()]
        found = _unique([(w, False) for line in read_lines(rgb, boxes) for w in line
                         if rules.readable(w)])
    return [TextLeft(frame, w.box, w.chars, w.confidence, plate_like(w.text), w.reader, ok)
            for w, ok in found]


def failing(found: list[TextLeft], cover: tuple[str, ...]) -> list[TextLeft]:
    """The text of `found` that the output was meant to cover (`cover`, names of --cover)."""
    if "text" in cover:
        return list(found)
    if "plates" in cover:
        return [t for t in found if t.plate_like]
    return []
