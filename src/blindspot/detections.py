"""`Detections`: the boxes that pass between stages (detect → track → redact → report).

Boxes are float arrays in pixel coordinates of the image as displayed (after EXIF orientation),
`x1, y1, x2, y2` with x2/y2 exclusive. Each box has a kind (`KINDS`: a face, a licence plate,
other text, a person), and every stage handles all kinds through the same path. Every function
here is pure: it returns new Detections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A box (photo) or track (video) whose best score reaches this is counted as a face; weaker
# ones are covered all the same and counted as uncertain (see `count_kind`).
FACE_SCORE = 0.4
# The same for people (the person detector's demo threshold is 0.3; blindspot covers from 0.1).
PERSON_SCORE = 0.5
SURE_SCORES = {"face": FACE_SCORE, "person": PERSON_SCORE}  # other kinds: every box is sure

# What a box holds; `Detections.kinds` stores indices into this tuple.
KINDS = ("face", "plate", "text", "person")
FACE, PLATE, TEXT, PERSON = range(len(KINDS))


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    track_ids: np.ndarray | None = None
    # One index into `KINDS` per box; None: every box is a face.
    kinds: np.ndarray | None = None
    # Video only, before tracking: a bool per box, True for a weak face box nothing supported
    # in its frame (`FaceSupport.mark`); tracking keeps it only where a supported box of its
    # kind overlaps it within `TrackSettings.confirm` frames (`track.py`). None: none is.
    tentative: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, np.float32).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError("boxes and scores differ in length")
        kinds = np.zeros(len(boxes), np.uint8) if self.kinds is None else \
            np.asarray(self.kinds, np.uint8).reshape(-1)
        if len(kinds) != len(boxes) or (len(kinds) and kinds.max() >= len(KINDS)):
            raise ValueError("kinds must give one of KINDS per box")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "kinds", kinds)
        if self.tentative is not None:
            tentative = np.asarray(self.tentative, bool).reshape(-1)
            if len(tentative) != len(boxes):
                raise ValueError("tentative must give a flag per box")
            object.__setattr__(self, "tentative", tentative if tentative.any() else None)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """One Detections of all boxes of `parts`, in order (track ids are not kept)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls()
        tentative = None
        if any(p.tentative is not None for p in parts):
            tentative = np.concatenate([p.tentative_mask() for p in parts])
        return cls(np.concatenate([p.boxes for p in parts]),
                   np.concatenate([p.scores for p in parts]),
                   kinds=np.concatenate([p.kinds for p in parts]), tentative=tentative)

    def select(self, keep: np.ndarray) -> Detections:
        ids = None if self.track_ids is None else self.track_ids[keep]
        tentative = None if self.tentative is None else self.tentative[keep]
        return Detections(self.boxes[keep], self.scores[keep], ids, self.kinds[keep],
                          tentative)

    def tentative_mask(self) -> np.ndarray:
        """Which boxes are tentative (a bool per box)."""
        return np.zeros(len(self), bool) if self.tentative is None else self.tentative

    def supported(self) -> Detections:
        """The boxes not marked tentative (itself where none is)."""
        return self if self.tentative is None else self.select(~self.tentative)

    def marked(self, tentative: np.ndarray) -> Detections:
        """The same boxes, those of `tentative` (a bool per box) marked tentative."""
        return Detections(self.boxes, self.scores, self.track_ids, self.kinds,
                          self.tentative_mask() | np.asarray(tentative, bool))

    def of_kind(self, *names: str) -> Detections:
        """The boxes whose kind is one of `names` (names of `KINDS`)."""
        return self.select(np.isin(self.kinds, [kind_index(n) for n in names]))

    def with_kind(self, name: str) -> Detections:
        """The same boxes, every one of kind `name`."""
        return Detections(self.boxes, self.scores, self.track_ids,
                          np.full(len(self), kind_index(name), np.uint8), self.tentative)

    def kind_names(self) -> list[str]:
        return [KINDS[k] for k in self.kinds.tolist()]

    def above(self, threshold: float) -> Detections:
        return self.select(self.scores >= threshold)

    def scaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Boxes multiplied by (sx, sy), then shifted by (dx, dy)."""
        boxes = self.boxes * np.array([sx, sy, sx, sy], np.float32)
        boxes = boxes + np.array([dx, dy, dx, dy], np.float32)
        return Detections(boxes, self.scores, self.track_ids, self.kinds, self.tentative)

    def clipped(self, width: int, height: int) -> Detections:
        boxes = self.boxes.copy()
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes, self.scores, self.track_ids, self.kinds,
                          self.tentative).select(keep)

    def sides(self) -> np.ndarray:
        """The longer side of each box, in pixels."""
        return np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])

    def to_xywh(self) -> list[list[float | str]]:
        """`[[x, y, w, h, score, kind], …]` rounded to 0.1 px, as `blindspot detect --json`
        prints."""
        rows: list[list[float | str]] = []
        for (x1, y1, x2, y2), s, kind in zip(self.boxes.tolist(), self.scores.tolist(),
                                             self.kind_names(), strict=True):
            rows.append([round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1),
                         round(s, 3), kind])
        return rows


def kind_index(name: str) -> int:
    """The index of kind `name` in `KINDS`; ValueError for an unknown name."""
    try:
        return KINDS.index(name)
    except ValueError:
        raise ValueError(f"unknown kind {name!r}: one of {', '.join(KINDS)}") from None


def count_kind(frames: list[Detections], kind: str) -> tuple[int, int]:
    """(sure, uncertain) among the boxes of `kind` in `frames`: a track (boxes sharing a track
    id, in video) or an untracked box (a photo) is sure when its best score reaches its kind's
    `SURE_SCORES` (faces, people), uncertain otherwise. Every box is covered either way: the
    count is what a person reads, and a weak box in one pass (a texture, a face-like object)
    should not be reported as a person."""
    best = _best_scores([d.of_kind(kind) for d in frames])
    sure = sum(score >= SURE_SCORES.get(kind, 0.0) for score in best)
    return sure, len(best) - sure


def _best_scores(frames: list[Detections]) -> list[float]:
    """The best score of each track, and the score of each untracked box (track id -1)."""
    best: dict[int, float] = {}
    single = []
    for dets in frames:
        ids = [-1] * len(dets) if dets.track_ids is None else dets.track_ids.tolist()
        for tid, score in zip(ids, dets.scores.tolist(), strict=True):
            if tid < 0:
                single.append(score)
            else:
                best[tid] = max(best.get(tid, 0.0), score)
    return single + list(best.values())


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The intersection areas of boxes `a` and `b` (float64 arrays of shape (..., 4) that
    broadcast: pair by pair, or `a[:, None]` with `b[None, :]` for every pair)."""
    return ((np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
            * (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0))


def _area(a: np.ndarray) -> np.ndarray:
    return (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes `a` and `b`, broadcast as `_intersection`."""
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (N×4) with every box in `b` (M×4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return _iou(a[:, None], b[None, :])


def drop_contained(dets: Detections, share: float = 0.8) -> Detections:
    """`dets` without the boxes that lie (`share` of their area or more) inside a larger box
    that scores at least as high: a part of a face seen as a face of its own. Whatever a
    dropped box covered, the larger box's mask covers too."""
    if len(dets) < 2:
        return dets
    boxes = np.asarray(dets.boxes, np.float64)
    area = _area(boxes)
    inside = _intersection(boxes[:, None], boxes[None, :]) / np.maximum(area, 1e-9)[:, None]
    larger = (area[None, :] > area[:, None]) & (dets.scores[None, :] >= dets.scores[:, None])
    return dets.select(~((inside >= share) & larger).any(axis=1))


def nms_groups(dets: Detections, iou_threshold: float = 0.4) -> list[np.ndarray]:
    """The groups `nms` merges: indices into `dets`, each group's best-scoring box first.

    A box only joins a group when the group's best-scoring box overlaps it by `iou_threshold` or
    more, so two faces side by side stay in two groups.
    """
    order = np.argsort(-dets.scores, kind="stable")
    if iou_threshold <= 0:  # every box overlaps every other by 0 or more
        return [order] if len(order) else []
    boxes = np.asarray(dets.boxes, np.float64)[order].reshape(-1, 4)
    neighbours = _overlapping(boxes, iou_threshold)
    if neighbours is None:  # boxes piled on each other (one face's many heatmap points)
        alive_at = np.arange(len(order))  # not yet in a group, best first
        groups = []
        while len(alive_at):
            member = iou_matrix(boxes[alive_at[0]], boxes[alive_at])[0] >= iou_threshold
            member[0] = True
            groups.append(order[alive_at[member]])
            alive_at = alive_at[~member]
        return groups
    alive = np.ones(len(order), bool)  # not yet in a group; indices are places in `order`
    groups = []
    for leader in range(len(order)):
        if not alive[leader]:
            continue
        near = neighbours[leader]
        members = np.sort(np.append(near[alive[near]], leader))
        alive[members] = False
        groups.append(order[members])
    return groups


def _overlapping(boxes: np.ndarray, iou_threshold: float) -> list[np.ndarray] | None:
    """For each box, the other boxes it overlaps by `iou_threshold` (> 0) or more (`_iou`,
    as `iou_matrix`). Only pairs whose x ranges meet are compared (a sweep over the left
    edges): a crowd's thousands of boxes are mostly apart. None when the boxes are piled up
    (more than `NMS_PAIRS_PER_BOX` such pairs per box): then a few large groups take them
    all, and going group by group is faster."""
    n = len(boxes)
    by_x = np.argsort(boxes[:, 0], kind="stable")
    left = boxes[by_x, 0]
    # Boxes after each one (in x order) that start before it ends: the candidates.
    ends = np.searchsorted(left, boxes[by_x, 2], side="left")
    counts = np.maximum(ends - np.arange(n) - 1, 0)
    if counts.sum() > NMS_PAIRS_PER_BOX * max(n, 64):
        return None
    pairs_a: list[np.ndarray] = []
    pairs_b: list[np.ndarray] = []
    for start in range(0, n, 256):
        c = counts[start:start + 256]
        first = np.repeat(np.arange(start, start + len(c)), c)
        second = first + 1 + np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        a, b = by_x[first], by_x[second]
        keep = _iou(boxes[a], boxes[b]) >= iou_threshold
        pairs_a.append(a[keep])
        pairs_b.append(b[keep])
    a = np.concatenate([*pairs_a, *pairs_b]) if n else np.zeros(0, np.int64)
    b = np.concatenate([*pairs_b, *pairs_a]) if n else np.zeros(0, np.int64)
    sort = np.argsort(a, kind="stable")
    return np.split(b[sort], np.searchsorted(a[sort], np.arange(1, n)))


NMS_PAIRS_PER_BOX = 256


def merge_group(dets: Detections, group: np.ndarray, merge: str = "union") -> np.ndarray:
    """The one box a group of `nms_groups` leaves (see `nms` for `merge`)."""
    members = dets.boxes[group]
    if merge == "union":
        return np.concatenate([members[:, :2].min(axis=0), members[:, 2:].max(axis=0)])
    if merge == "mean":
        mean = np.average(members, axis=0, weights=dets.scores[group])
        # Grown to hold the middle half of every box merged (eyes, nose, mouth), so a pass
        # that saw the face off-centre is never left with its middle outside the mask.
        quarter = (members[:, 2:] - members[:, :2]) / 4
        inner = np.concatenate([members[:, :2] + quarter, members[:, 2:] - quarter], axis=1)
        return np.concatenate([np.minimum(mean[:2], inner[:, :2].min(axis=0)),
                               np.maximum(mean[2:], inner[:, 2:].max(axis=0))])
    return members[0]


def nms(dets: Detections, iou_threshold: float = 0.4, merge: str = "union") -> Detections:
    """Non-maximum suppression: one box for each group of overlapping boxes (`nms_groups`).

    `merge` picks the box a group leaves: "union" grows the best box to the union of its group
    (merging never shrinks the covered area), "best" keeps the best box as is, "mean" is the
    score-weighted mean of the group (what matches the face best when several scales see it),
    grown where needed to hold the middle half of every box of the group.
    The group keeps the best score.
    """
    if merge not in ("union", "best", "mean"):
        raise ValueError(f"unknown merge rule {merge!r}")
    if len(dets) == 0:
        return dets
    groups = nms_groups(dets, iou_threshold)
    best = np.array([g[0] for g in groups])
    if merge == "best":
        return dets.select(best)
    boxes = np.array([merge_group(dets, g, merge) for g in groups], np.float32)
    return Detections(boxes, dets.scores[best], kinds=dets.kinds[best])
