"""Weak face boxes kept only where something supports them being a face (no phantom faces).

CenterFace, run at the low threshold blindspot covers from, also fires on things that are not
faces: a shopping cart, a pedestrian signal's lit hand, the back of a head, a T-shirt print.
Almost all such boxes score low, and so do many real faces (tiny, turned, dark). `FaceSupport`
keeps every box that scores at least `SupportSettings.sure`, and a weaker one only when one of
these supports it:

- **a person's head**: its centre lies in the top `head_top` of a person box from the people
  detector (YOLOX-nano), no wider than that person;
- **a crowd**: at least `crowd_faces` sure faces of about its size (`crowd_ratio`) lie within
  `crowd_radius` of its sides (in a crowd the people detector sees no single person);
- **a second look**: the face model run again on the box's surroundings alone, scaled so the box
  is `recheck_side` px, finds a face there scoring at least `recheck_score`, and again on the
  same crop mirrored (a texture rarely looks like a face both ways at a face's best scale);
- **in a video, the frames before**: it overlaps a face kept by the previous detection run;
- **in a video, the frames after**: a box nothing supports in its frame is marked tentative
  (`mark`), not dropped, and tracking keeps it where a supported face box overlaps it (IoU
  >= `TrackSettings.iou_match`) within `TrackSettings.confirm` frames, before or after
  (`track.py`): a face found for sure a second later is covered in the frames before, where
  it was weak.

The settings were chosen on the tune halves of `bench/phantoms.py` (docs/phantoms.md): phantom
boxes per street photo against recall by size band on the face sets. The cheap supports are
looked for first (the frames before, a crowd), then a person (the people detector runs only
when a weak box is still left to judge), then the second look (all of a picture's weak boxes
left in one run of the model, and those found again in one run more, mirrored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ..detections import Detections, iou_matrix
from .people import PeopleSettings

# The people detector the filter runs where people are not covered (else their boxes are
# taken): the whole picture in one pass, no tiles (chosen on bench/phantoms.py's tune half).
SUPPORT_PEOPLE = PeopleSettings(tile_share=0.0)


@dataclass(frozen=True)
class SupportSettings:
    """Which weak face boxes are kept (see the module). `sure` 0: every box is kept."""

    sure: float = 0.3
    # A person's head: the box centre within the person box's width and between
    # `head_above` of its height above it and `head_top` of its height below its top; the
    # person scoring at least `person_score` (the people detector's own threshold: 0.1).
    head_top: float = 0.3
    head_above: float = 0.05
    person_score: float = 0.1
    # A crowd: `crowd_faces` sure faces (0: off) whose side is within `crowd_ratio` times the
    # box's, their centres within `crowd_radius` of its sides from its centre.
    crowd_faces: int = 2
    crowd_radius: float = 8.0
    crowd_ratio: float = 2.0
    # The second look (`recheck_side` 0: off): a square crop `recheck_context` times the box's
    # side around it, scaled so the box is `recheck_side` px; a face there overlapping the box
    # by IoU `recheck_iou` and scoring `recheck_score`, in the crop and in its mirror image.
    recheck_side: int = 32
    recheck_context: float = 4.0
    recheck_score: float = 0.3
    recheck_iou: float = 0.3
    # Video: a weak box overlapping a face kept by the previous detection run (a few frames
    # before) by this IoU continues it (0: off).
    track_iou: float = 0.3

    @classmethod
    def off(cls) -> SupportSettings:
        """Every face box kept, as the detector found it."""
        return cls(sure=0.0)


class FaceModel(Protocol):
    def run(self, rgb: np.ndarray, threshold: float) -> Detections: ...


class PeopleFinder(Protocol):
    def detect(self, rgb: np.ndarray) -> Detections: ...


class FaceSupport:
    """Drops the weak face boxes nothing supports (`SupportSettings`); `model` is the face
    model for the second look (CenterFace), `people` the person detector (None: no head
    support)."""

    def __init__(self, settings: SupportSettings, model: FaceModel,
                 people: PeopleFinder | None) -> None:
        self.settings = settings
        self.model = model
        self.people = people

    def filter(self, rgb: np.ndarray, faces: Detections, people: Detections | None = None,
               near: Detections | None = None) -> Detections:
        """The boxes of `faces` (found in `rgb`) that are sure or supported, in their order.
        `people`: the person boxes of `rgb` when already found (else the people detector runs
        if a weak box needs them). `near`: in a video, the faces kept by the previous
        detection run."""
        return faces.select(self.supported(rgb, faces, people, near))

    def mark(self, rgb: np.ndarray, faces: Detections, people: Detections | None = None,
             near: Detections | None = None) -> Detections:
        """`faces`, each box `filter` would drop marked tentative instead (video: tracking
        keeps it where a supported face overlaps it a few frames before or after)."""
        return faces.marked(~self.supported(rgb, faces, people, near))

    def supported(self, rgb: np.ndarray, faces: Detections, people: Detections | None = None,
                  near: Detections | None = None) -> np.ndarray:
        """Which boxes of `faces` are kept (a bool per box)."""
        s = self.settings
        keep = faces.scores >= s.sure
        if keep.all() or s.sure <= 0:
            return np.ones(len(faces), bool)
        if near is not None and len(near) and s.track_iou > 0:
            keep |= iou_matrix(faces.boxes, near.boxes).max(axis=1) >= s.track_iou
        if s.crowd_faces > 0:
            keep |= in_crowd(faces.boxes, keep, s.crowd_faces, s.crowd_radius, s.crowd_ratio)
        if not keep.all() and (people is not None or self.people is not None):
            if people is None:
                assert self.people is not None
                people = self.people.detect(rgb)
            persons = people.boxes[people.scores >= s.person_score]
            keep |= on_head(faces.boxes, persons, s.head_top, s.head_above)
        if s.recheck_side > 0 and not keep.all():
            left = np.nonzero(~keep)[0]
            keep[left] = self.second_look(rgb, faces.boxes[left])
        return keep

    def second_look(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Which of `boxes` (N×4) the face model finds again, run on each box's surroundings
        scaled so that the box is `recheck_side` px, and on the same crop mirrored. The crops
        are laid side by side in one picture (`_mosaic`), so that all of them take two runs of
        the model, whatever their number."""
        s = self.settings
        crops, expected = zip(*(_crop(rgb, box, s.recheck_context, s.recheck_side)
                                for box in boxes), strict=True)
        found = np.ones(len(boxes), bool)
        for mirrored in (False, True):  # the mirror image only of what the first run found
            ask = np.nonzero(found)[0]
            if not len(ask):
                break
            cells = [np.ascontiguousarray(crops[i][:, ::-1]) if mirrored else crops[i]
                     for i in ask]
            picture, origins = _mosaic(cells)
            dets = self.model.run(picture, min(0.05, s.recheck_score))
            dets = dets.select(dets.scores >= s.recheck_score)
            for i, (x, y), cell in zip(ask, origins, cells, strict=True):
                want = expected[i].copy()
                if mirrored:
                    want[[0, 2]] = cell.shape[1] - expected[i][[2, 0]]
                want += [x, y, x, y]
                found[i] = len(dets) > 0 and bool(
                    (iou_matrix(want, dets.boxes)[0] >= s.recheck_iou).any())
        return found


# Crops laid side by side for the second look are this many pixels apart (black between), so
# that what the model sees of one hardly reaches into its neighbour's.
MOSAIC_GAP = 16
MOSAIC_WIDTH = 1024  # pixels of crops per row at most (more rows beyond)
MOSAIC_STEP = (256, 64)  # the picture's width and height are multiples of these


def _mosaic(cells: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """`cells` (RGB arrays) laid in rows on one black picture, `MOSAIC_GAP` apart, and the
    top left corner of each."""
    origins, x, y, row_h, width = [], MOSAIC_GAP, MOSAIC_GAP, 0, 0
    for cell in cells:
        h, w = cell.shape[:2]
        if x > MOSAIC_GAP and x + w > MOSAIC_WIDTH:
            x, y, row_h = MOSAIC_GAP, y + row_h + MOSAIC_GAP, 0
        origins.append((x, y))
        x += w + MOSAIC_GAP
        row_h, width = max(row_h, h), max(width, x)
    # Sizes rounded up to a few steps: the model prepares itself anew for each input size it
    # has not seen (OpenVINO), which costs more than the black margin.
    height = -(-(y + row_h + MOSAIC_GAP) // MOSAIC_STEP[1]) * MOSAIC_STEP[1]
    width = -(-width // MOSAIC_STEP[0]) * MOSAIC_STEP[0]
    picture = np.zeros((height, width, 3), np.uint8)
    for (x, y), cell in zip(origins, cells, strict=True):
        picture[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
    return picture, origins


def _crop(rgb: np.ndarray, box: np.ndarray, context: float, side: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """A square crop `context` × `box`'s longer side around its centre (edges replicated past
    the picture), scaled so that side is `side` px, and `box` in the crop's pixels."""
    h, w = rgb.shape[:2]
    longer = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
    cx, cy, half = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, longer * context / 2
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    x1, y1 = int(np.ceil(cx + half)), int(np.ceil(cy + half))
    crop = rgb[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    k = side / longer
    # Scaled first, then padded (a large box's 4× surroundings padded at full size would take
    # gigabytes).
    size = (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR if k > 1 else cv2.INTER_AREA)
    crop = cv2.copyMakeBorder(crop, round(max(0, -y0) * k), round(max(0, y1 - h) * k),
                              round(max(0, -x0) * k), round(max(0, x1 - w) * k),
                              cv2.BORDER_REPLICATE)
    expected = (np.asarray(box, np.float64) - [x0, y0, x0, y0]) * k
    return crop, expected


def on_head(faces: np.ndarray, persons: np.ndarray, top: float, above: float) -> np.ndarray:
    """Which face boxes (N×4) have their centre where a head of one of `persons` (M×4) is:
    within its width, from `above` of its height above its top to `top` of its height below,
    and are no wider than that person."""
    if not len(faces) or not len(persons):
        return np.zeros(len(faces), bool)
    cx = ((faces[:, 0] + faces[:, 2]) / 2)[:, None]
    cy = ((faces[:, 1] + faces[:, 3]) / 2)[:, None]
    width = (faces[:, 2] - faces[:, 0])[:, None]
    x0, y0, x1, y1 = (persons[None, :, i] for i in range(4))
    height = y1 - y0
    return ((cx >= x0) & (cx <= x1) & (cy >= y0 - above * height) & (cy <= y0 + top * height)
            & (width <= x1 - x0)).any(axis=1)


def in_crowd(faces: np.ndarray, sure: np.ndarray, count: int, radius: float,
             ratio: float) -> np.ndarray:
    """Which of the face boxes (N×4) not marked `sure` have at least `count` of the boxes
    marked `sure` of a side within `ratio` times theirs, centred within `radius` of their
    sides of their centre (the `sure` boxes themselves: False)."""
    out = np.zeros(len(faces), bool)
    if not len(faces) or sure.sum() < count:
        return out
    side = np.maximum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]).astype(np.float64)
    side = np.maximum(side, 1e-6)
    centre = ((faces[:, :2] + faces[:, 2:]) / 2).astype(np.float64)
    weak = np.nonzero(~sure)[0]
    for start in range(0, len(weak), 256):  # a crowd has thousands of boxes: in slices
        rows = weak[start:start + 256]
        distance = np.linalg.norm(centre[rows, None] - centre[None, sure], axis=2)
        relative = side[None, sure] / side[rows, None]
        near = ((distance <= radius * side[rows, None]) & (relative <= ratio)
                & (relative >= 1 / ratio))
        out[rows] = near.sum(axis=1) >= count
    return out
