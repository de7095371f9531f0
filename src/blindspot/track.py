"""Tracking: link per-frame boxes into tracks and cover the frames the detector missed.

Every kind (faces, plates, text, people) is tracked alike; a box only joins a track of its own
kind.

A face detector misses a face now and then for a frame or two (a head turns, motion blur), and
in video a single uncovered frame shows the face. `track` links the boxes of consecutive frames
into tracks and returns, for every frame, the boxes to cover: every detection of that frame
(never fewer than the detector found) plus one box for each track alive around the frame,
interpolated between the track's detections, held past its ends, and grown by its motion.
A weak face box nothing supported in its frame (`Detections.tentative`, video only) is kept
only where a supported face box overlaps it within `confirm` frames, before or after: a face the
detector finds for sure a moment later was a face in the frames where it was weak. The boxes
nothing confirms are dropped before linking, so they neither are covered nor pull a track.

Pure: boxes in, boxes out, no pixels.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from blindspot.detections import Detections, iou_matrix

# The defaults assume 25–30 fps with detection on every frame; `TrackSettings.for_fps` rescales.
GAP_SECONDS = 1.0  # a track outlives this much time without a detection
EXTEND_SECONDS = 0.3  # a track is covered this long before its first and after its last detection


@dataclass(frozen=True)
class TrackSettings:
    """How detections link into tracks and how far each track's cover reaches.

    iou_match: a detection joins a track when its IoU with the track's predicted box is at least
        this, or (for small fast faces, whose boxes do not overlap between frames) when its centre
        lies within `centre_match` box sides per elapsed frame of the predicted centre. 1.0
        links a small face in a fast pan (IoU 0 between frames); nearest pairs link first, so
        neighbouring faces in a crowd keep their own tracks.
    max_gap: how many frames where detection ran (not None) a track may go undetected and still
        be linked again; the missed frames are then filled by interpolation. Frames where
        detection did not run do not count. 25 ≈ 1 s at 25 fps with detection on every frame.
    extend: frames each track is covered before its first and after its last detection, with the
        end box held and also moved on by the track's velocity (the union of both), so the frames
        just before the detector first sees a face are covered. 8 ≈ 0.3 s at 25–30 fps.
    extrapolate: for how many of those frames the moved box goes on moving (after that it
        stays where it got to): a velocity guessed from two detections says little about where
        a face is a second later, and a box moved on for long grows into a band across the
        picture. (Tracks of the thorough detector only move on for all their cover.)
    thorough_every: a track whose every detection fell on a frame where the thorough detector
        ran (every `thorough_every`-th; 0: none) is a face only that detector sees (a small
        one): its box moves on for all of its `extend` frames of cover, not only `extrapolate`.
    motion_scale: each filled box grows on each side by the track's per-frame displacement times
        this, so a face that does not move exactly along the interpolated path stays covered.
    confirm: a tentative detection (a weak face box nothing supported in its frame) is kept
        where a supported box of its kind overlaps it (IoU >= `iou_match`) on a frame at most
        this many frames before or after it, and dropped elsewhere. While a frame with one
        waits for the frames after it, the render trails detection by up to this much more.
    """

    iou_match: float = 0.3
    centre_match: float = 1.0
    max_gap: int = 25
    extend: int = 8
    motion_scale: float = 1.0
    extrapolate: int = 8
    thorough_every: int = 0
    confirm: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.iou_match <= 1:
            raise ValueError("iou_match must be in (0, 1]")
        if self.centre_match < 0 or self.motion_scale < 0:
            raise ValueError("centre_match and motion_scale must not be negative")
        if min(self.max_gap, self.extend, self.extrapolate, self.thorough_every,
               self.confirm) < 0:
            raise ValueError("max_gap, extend, extrapolate, thorough_every and confirm must "
                             "not be negative")

    @classmethod
    def for_fps(cls, fps: float, detect_every: int = 1, full_every: int = 0) -> TrackSettings:
        """Defaults for video at `fps` with detection run on every `detect_every`-th frame, and
        the thorough detector (small faces too) on every `full_every`-th (0: never).

        `max_gap` counts detection runs, so it is ~1 s divided by the cadence, and never less
        than the runs between two thorough ones (a small face only they see links across);
        `extrapolate` is ~0.3 s and never less than `detect_every` (a face that appears between
        two detection runs is covered back to its first frame); `extend` is that or `full_every`
        if longer: measured on the dev clips, faces the light detector sees now and then
        (crowds, a cut) need the cover as long as those only the thorough detector sees
        (which also move on for all of it); `motion_scale` grows with the
        cadence, since the longer the stretch between detections, the further a face may stray
        from a straight path. `confirm` is `extend`: a weak box is kept as far from a sure one
        as a track's cover reaches past its ends.
        """
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError("fps must be a positive number")
        if detect_every < 1 or full_every < 0:
            raise ValueError("detect_every must be at least 1, full_every not negative")
        moving = max(round(fps * EXTEND_SECONDS), detect_every)
        extend = max(moving, full_every)
        return cls(
            max_gap=max(1, round(fps * GAP_SECONDS / detect_every),
                        full_every // detect_every + 1 if full_every else 0),
            extend=extend,
            motion_scale=max(1.0, detect_every / 2),
            extrapolate=moving,
            thorough_every=full_every,
            confirm=extend,
        )


@dataclass
class _Track:
    """One face's detections so far: frame numbers, boxes (float64) and scores, in frame order."""

    id: int
    kind: int = 0
    times: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    misses: int = 0  # detection runs since the last detection of this track
    thorough_only: bool = True  # every detection so far on a frame where the thorough one ran

    def add(self, t: int, box: np.ndarray, score: float, thorough: bool) -> None:
        """A detection on frame `t` (`thorough`: a frame where the thorough detector ran)."""
        self.times.append(t)
        self.boxes.append(box)
        self.scores.append(score)
        self.misses = 0
        self.thorough_only &= thorough

    def predict(self, t: int) -> np.ndarray:
        """The box expected on frame `t`, moving on at the velocity of the last two detections."""
        if len(self.times) < 2:
            return self.boxes[-1]
        velocity = (self.boxes[-1] - self.boxes[-2]) / (self.times[-1] - self.times[-2])
        return self.boxes[-1] + velocity * (t - self.times[-1])


def track(frames: Sequence[Detections | None],
          settings: TrackSettings = TrackSettings()) -> list[Detections]:
    """Per-frame detections → per-frame boxes to cover, each with a track id.

    `None` means detection did not run on that frame (detection runs every k-th frame for speed);
    an empty Detections means it ran and found nothing. Each output frame holds that frame's
    detections first, unchanged and in order (its tentative ones only where a supported one
    confirms them, `TrackSettings.confirm`, and no longer marked), then one filled box for each
    other track that covers the frame; `track_ids` says which track each box belongs to (-1
    for a detection with a non-finite box, which is passed through but not tracked). A filled
    box carries the score of the track's nearest detection (the smaller of the two it lies
    between).
    """
    tracker = Tracker(settings)
    for dets in frames:
        tracker.push(dets)
    return tracker.finish()


class Tracker:
    """`track`, a frame at a time, for a render that follows detection: `push` each frame's
    detections in order; `ready` returns the boxes of the next frames that no later frame can
    change any more, `finish` (after the last frame) the rest. Joined, they are `track`'s
    output exactly (`track` is this class).

    A frame is final once no track can still change its boxes: a track that may still link a
    detection changes the frames after its last one (its cover held past it becomes an
    interpolation), or all of its cover before its first when its start is not settled (one
    detection so far: no velocity yet; only thorough ones: it may still turn out to be a face
    the light detector sees, and move on less far); and a track not started yet covers at most
    `extend` frames before its first. So the render trails detection by about `extend`
    frames, and by longer while a track seen only by the thorough detector lives, or a
    tentative detection waits for the `confirm` frames after it.
    Memory: the boxes of the frames not returned yet, and the tracks that cover them.
    """

    def __init__(self, settings: TrackSettings = TrackSettings()) -> None:
        self.settings = settings
        self.frames: list[Detections | None] = []  # pushed, not returned yet
        self.det_ids: list[np.ndarray] = []  # their detections' track ids
        self.returned = 0  # frames returned so far
        self.live: list[_Track] = []  # tracks that may still link a detection
        self.done: list[_Track] = []  # ended tracks that may cover frames not returned
        self.tracks = 0  # ids given so far
        self.first_run: int | None = None
        self.last_run: int | None = None
        self.waiting: deque[Detections | None] = deque()  # pushed, not linked yet
        # The supported boxes of the frames linked in the last `confirm` (frame, boxes).
        self.recent: deque[tuple[int, Detections]] = deque()

    def push(self, dets: Detections | None) -> None:
        """The next frame's detections (None: detection did not run on it). A frame holding a
        tentative detection is linked once the `confirm` frames after it are pushed (or at
        `finish`); the frames after it wait with it."""
        self.waiting.append(dets)
        self._link_waiting(everything=False)

    def _link_waiting(self, everything: bool) -> None:
        """Link the waiting frames in order, up to the first whose tentative detections still
        wait for frames after it (`everything`: all of them, the video has ended)."""
        confirm = self.settings.confirm
        while self.waiting:
            dets = self.waiting[0]
            if not everything and dets is not None and dets.tentative is not None \
                    and len(self.waiting) <= confirm:
                return
            self.waiting.popleft()
            t = self.returned + len(self.frames)
            while self.recent and self.recent[0][0] < t - confirm:
                self.recent.popleft()
            if dets is not None:
                sure = dets.supported()
                if dets.tentative is not None:
                    dets = self._confirmed(dets)
                self.recent.append((t, sure))
            self._link(dets)

    def _confirmed(self, dets: Detections) -> Detections:
        """`dets` (the frame being linked) without the tentative detections no supported one of
        their kind overlaps within `confirm` frames, the others no longer tentative."""
        tentative = dets.tentative_mask()
        # The supported boxes of the frames before (`recent`) and after (waiting).
        after = [d.supported() for d in list(self.waiting)[:self.settings.confirm]
                 if d is not None]
        sure = Detections.concat([d for _, d in self.recent] + after)
        keep = ~tentative
        for kind in np.unique(dets.kinds[tentative]).tolist():
            mine = np.flatnonzero(tentative & (dets.kinds == kind))
            theirs = sure.boxes[sure.kinds == kind]
            if len(theirs):
                overlap = iou_matrix(dets.boxes[mine], theirs) >= self.settings.iou_match
                keep[mine[overlap.any(axis=1)]] = True
        kept = dets.select(keep)
        return Detections(kept.boxes, kept.scores, kept.track_ids, kept.kinds)

    def _link(self, dets: Detections | None) -> None:
        """Link the next frame's detections (None: detection did not run on it)."""
        t = self.returned + len(self.frames)
        self.frames.append(dets)
        if dets is None:
            self.det_ids.append(np.zeros(0, np.int64))
            return
        if self.first_run is None:
            self.first_run = t
        self.last_run = t
        live = self.live
        boxes = dets.boxes.astype(np.float64)
        ids = np.full(len(dets), -1, np.int64)
        trackable = np.flatnonzero(np.isfinite(boxes).all(axis=1))
        predicted = np.array([tr.predict(t) for tr in live]).reshape(-1, 4)
        elapsed = np.array([t - tr.times[-1] for tr in live], np.float64)
        same_kind = np.array([tr.kind for tr in live])[:, None] == dets.kinds[trackable][None, :]
        matched = set()
        thorough = bool(self.settings.thorough_every) and t % self.settings.thorough_every == 0
        for i, j in _match(predicted, elapsed, boxes[trackable], self.settings, same_kind):
            d = int(trackable[j])
            live[i].add(t, boxes[d], float(dets.scores[d]), thorough)
            ids[d] = live[i].id
            matched.add(i)
        for d in trackable:
            if ids[d] < 0:
                new = _Track(self.tracks, int(dets.kinds[d]))
                self.tracks += 1
                new.add(t, boxes[d], float(dets.scores[d]), thorough)
                ids[d] = new.id
                live.append(new)
                matched.add(len(live) - 1)
        still = []
        for i, tr in enumerate(live):
            if i not in matched:
                tr.misses += 1
            (self.done if tr.misses > self.settings.max_gap else still).append(tr)
        self.live = still
        self.det_ids.append(ids)

    def ready(self) -> list[Detections]:
        """The boxes of the next frames that are final (possibly none)."""
        if self.last_run is None:
            return []
        return self._emit(self._final_until(), self.last_run + 1, self.last_run)

    def finish(self) -> list[Detections]:
        """The boxes of every frame not returned yet (call after the last frame)."""
        self._link_waiting(everything=True)
        end = self.returned + len(self.frames)
        return self._emit(end, end, self.last_run if self.last_run is not None else end - 1)

    def _final_until(self) -> int:
        """The first frame whose boxes a frame not pushed yet may still change."""
        s, first, last = self.settings, self.first_run, self.last_run
        assert first is not None and last is not None

        def cover_start(t: int) -> int:  # where a track first detected on frame t is covered
            return 0 if t - s.extend <= first else t - s.extend

        until = cover_start(last + 1)  # a track that starts on a later frame
        for tr in self.live:
            unsettled = len(tr.times) < 2 or tr.thorough_only
            until = min(until, cover_start(tr.times[0]) if unsettled else tr.times[-1] + 1)
        return max(until, self.returned)

    def _emit(self, until: int, n: int, last_run: int) -> list[Detections]:
        """Frames `returned`…`until - 1`, as `track` gives them for a video of `n` frames whose
        last frame where detection ran is `last_run` (so far: the frames up to the last run
        pushed; at the end: all of them)."""
        lo, count = self.returned, until - self.returned
        if count <= 0:
            return []
        first = self.first_run if self.first_run is not None else 0
        tracks = sorted(self.done + self.live, key=lambda tr: tr.id)
        filled = [_fill(tr, n, first, last_run, self.settings, lo, until) for tr in tracks]
        out = _assemble(self.frames[:count], self.det_ids[:count], filled, lo)
        del self.frames[:count], self.det_ids[:count]
        self.returned = until
        # An ended track whose cover ends before the frames left (and before the last frame
        # where detection ran, past which its cover could reach the video's end) is spent.
        self.done = [tr for tr in self.done
                     if tr.times[-1] + self.settings.extend >= min(until, last_run)]
        return out


def _match(predicted: np.ndarray, elapsed: np.ndarray, boxes: np.ndarray,
           settings: TrackSettings, allowed: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (track, detection) pairs that link, nearest centres first (greedy); only
    pairs that `allowed` (tracks × boxes) allows can link."""
    if not len(predicted) or not len(boxes):
        return []
    ious = iou_matrix(predicted, boxes)
    offset = _centres(predicted)[:, None, :] - _centres(boxes)[None, :, :]
    size = np.maximum((_sides(predicted)[:, None] + _sides(boxes)[None, :]) / 2, 1.0)
    cost = np.hypot(offset[..., 0], offset[..., 1]) / size
    links = (ious >= settings.iou_match) | (cost <= settings.centre_match * elapsed[:, None])
    links &= allowed
    # Every linking pair's place in the greedy order: nearest centres first, then the larger
    # IoU, then row-major (the order np.argwhere gives).
    rank = np.full(links.shape, np.iinfo(np.int64).max, np.int64)
    order = np.lexsort((-ious[links], cost[links]))
    places = np.empty(len(order), np.int64)
    places[order] = np.arange(len(order))
    rank[links] = places
    return _greedy(rank)


def _greedy(rank: np.ndarray) -> list[tuple[int, int]]:
    """The one-to-one pairs a greedy pass over the ranks (tracks × boxes, distinct, the
    int64 maximum where a pair may not link) takes, lowest first, in that order.

    Taken a round at a time: a pair whose rank is the lowest of its row and of its column
    (among rows and columns not taken yet) is one the greedy pass takes, whatever it takes
    before; so every such pair of a round is taken at once. Same pairs as walking them one by
    one, without a Python step per candidate pair (a crowd has a million)."""
    none = np.iinfo(np.int64).max
    rows, cols = np.arange(rank.shape[0]), np.arange(rank.shape[1])
    taken: list[tuple[int, int, int]] = []
    while rank.size:
        best_col = rank.argmin(axis=1)
        best = rank[np.arange(len(rows)), best_col]
        live = best < none
        if not live.any():
            break
        best_row = rank.argmin(axis=0)
        mine = np.flatnonzero(live & (best_row[best_col] == np.arange(len(rows))))
        taken += zip(best[mine].tolist(), rows[mine].tolist(), cols[best_col[mine]].tolist(),
                     strict=True)
        keep_rows = live.copy()
        keep_rows[mine] = False
        keep_cols = (rank[keep_rows] < none).any(axis=0)
        keep_cols[best_col[mine]] = False
        rank = rank[keep_rows][:, keep_cols]
        rows, cols = rows[keep_rows], cols[keep_cols]
    return [(i, j) for _, i, j in sorted(taken)]


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _sides(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def _fill(tr: _Track, n: int, first_run: int, last_run: int, settings: TrackSettings,
          lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Track]:
    """The frames `lo`…`hi - 1` (`hi` ≤ `n`) one track covers without a detection of its own
    in a video of `n` frames: (frames, boxes, scores, the track).

    Between detections: linear interpolation. Before the first and after the last: the end box
    held and moved on by the end velocity (their union), for `extend` frames, and through the
    frames at the start or end of the video where detection never ran if the track's cover
    reaches the first or last frame where it did (the box then stays as it is after `extend`).
    """
    times = np.array(tr.times, np.int64)
    boxes = np.array(tr.boxes, np.float64)
    scores = np.array(tr.scores, np.float64)
    extend, moving = settings.extend, min(settings.extend, settings.extrapolate)
    if tr.thorough_only:
        moving = extend  # a small face seen only now and then: moved on all the way
    start, end = times[0] - extend, times[-1] + extend
    start = 0 if start <= first_run else start
    end = n - 1 if end >= last_run else end
    frames = np.arange(max(start, lo), min(end, hi - 1) + 1)
    frames = frames[~np.isin(frames, times)]
    out_boxes = np.zeros((len(frames), 4))
    out_scores = np.zeros(len(frames))
    steps = np.zeros((len(frames), 4))

    inside = (frames > times[0]) & (frames < times[-1])
    hi = np.searchsorted(times, frames[inside])
    lo = hi - 1
    span = (times[hi] - times[lo]).astype(np.float64)[:, None]
    delta = boxes[hi] - boxes[lo]
    out_boxes[inside] = boxes[lo] + delta * ((frames[inside] - times[lo])[:, None] / span)
    out_scores[inside] = np.minimum(scores[lo], scores[hi])
    steps[inside] = np.abs(delta) / span

    for mask, end_i, next_i in ((frames < times[0], 0, 1), (frames > times[-1], -1, -2)):
        held = boxes[end_i]
        velocity = np.zeros(4)
        if len(times) > 1:
            velocity = (boxes[end_i] - boxes[next_i]) / (times[end_i] - times[next_i])
        away = np.minimum(np.abs(frames[mask] - times[end_i]), moving)
        moved = held + velocity * (np.sign(frames[mask] - times[end_i]) * away)[:, None]
        out_boxes[mask] = np.concatenate([np.minimum(held[:2], moved[:, :2]),
                                          np.maximum(held[2:], moved[:, 2:])], axis=1)
        out_scores[mask] = scores[end_i]
        steps[mask] = np.abs(velocity)
    return frames, _grow(out_boxes, steps, settings.motion_scale), out_scores, tr


def _grow(boxes: np.ndarray, steps: np.ndarray, scale: float) -> np.ndarray:
    """Boxes grown on each side by `scale` × the per-frame motion along that axis."""
    mx = scale * np.maximum(steps[:, 0], steps[:, 2])
    my = scale * np.maximum(steps[:, 1], steps[:, 3])
    return boxes + np.stack([-mx, -my, mx, my], axis=1)


def _assemble(frames: Sequence[Detections | None], det_ids: list[np.ndarray],
              filled: list[tuple[np.ndarray, np.ndarray, np.ndarray, _Track]], first: int
              ) -> list[Detections]:
    """Per frame (`frames` are frames `first`…): the frame's detections, then the filled boxes
    of the tracks that cover it."""
    filled = filled or [(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), _Track(-1))]
    at = np.concatenate([f[0] for f in filled])
    boxes = np.concatenate([f[1] for f in filled])
    scores = np.concatenate([f[2] for f in filled])
    ids = np.concatenate([np.full(len(f[0]), f[3].id, np.int64) for f in filled])
    kinds = np.concatenate([np.full(len(f[0]), f[3].kind, np.uint8) for f in filled])
    order = np.argsort(at, kind="stable")
    at, boxes, scores, ids, kinds = at[order], boxes[order], scores[order], ids[order], \
        kinds[order]
    bounds = np.searchsorted(at, np.arange(first, first + len(frames) + 1))
    out = []
    for t, dets in enumerate(frames):
        dets = dets if dets is not None else Detections.empty()
        a, b = bounds[t], bounds[t + 1]
        out.append(Detections(np.concatenate([dets.boxes, boxes[a:b].astype(np.float32)]),
                              np.concatenate([dets.scores, scores[a:b].astype(np.float32)]),
                              np.concatenate([det_ids[t], ids[a:b]]),
                              np.concatenate([dets.kinds, kinds[a:b]])))
    return out
