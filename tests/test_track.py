"""Tracking covers every frame of a face the detector saw around it, and never drops a detection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindspot.detections import Detections, iou_matrix, kind_index
from blindspot.track import Tracker, TrackSettings, track


def dets(*boxes: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), score))


def covered(box: np.ndarray, boxes: np.ndarray, tol: float = 1.0) -> bool:
    """Whether `box`, shrunk by `tol` on each side, lies inside the union of `boxes`."""
    x1, y1, x2, y2 = box[0] + tol, box[1] + tol, box[2] - tol, box[3] - tol
    if x2 <= x1 or y2 <= y1:
        return True
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    xs = np.unique(np.clip(np.concatenate([[x1, x2], boxes[:, 0], boxes[:, 2]]), x1, x2))
    ys = np.unique(np.clip(np.concatenate([[y1, y2], boxes[:, 1], boxes[:, 3]]), y1, y2))
    cx, cy = np.meshgrid((xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2)
    cx, cy = cx.ravel()[:, None], cy.ravel()[:, None]
    inside = ((boxes[None, :, 0] <= cx) & (cx <= boxes[None, :, 2])
              & (boxes[None, :, 1] <= cy) & (cy <= boxes[None, :, 3]))
    return bool(inside.any(axis=1).all())


def linear_path(n: int, start: tuple[float, float], velocity: tuple[float, float],
                size: tuple[float, float]) -> np.ndarray:
    """The true box of a face moving in a straight line on each of `n` frames."""
    t = np.arange(n, dtype=np.float64)[:, None]
    x1 = start[0] + velocity[0] * t
    y1 = start[1] + velocity[1] * t
    return np.concatenate([x1, y1, x1 + size[0], y1 + size[1]], axis=1)


def sample(truth: np.ndarray, detect_every: int, phase: int = 0,
           missed: frozenset[int] = frozenset()) -> list[Detections | None]:
    """What a detector run every `detect_every`-th frame sees, missing the frames in `missed`."""
    frames: list[Detections | None] = []
    for t, box in enumerate(truth):
        if t % detect_every != phase:
            frames.append(None)
        else:
            frames.append(dets() if t in missed else dets(tuple(box)))
    return frames


def assert_never_dropped(frames: list[Detections | None], out: list[Detections]) -> None:
    assert len(out) == len(frames)
    for dets_in, dets_out in zip(frames, out, strict=True):
        assert dets_out.track_ids is not None and len(dets_out.track_ids) == len(dets_out)
        if dets_in is None:
            continue
        remaining = [tuple(row) for row in dets_out.boxes.tolist()]
        for row in dets_in.boxes.tolist():
            assert tuple(row) in remaining, "a detection was dropped"
            remaining.remove(tuple(row))


def test_a_missed_frame_is_interpolated():
    truth = linear_path(21, (100, 50), (2, 1), (40, 50))
    frames = [dets(tuple(box)) for box in truth]
    frames[10] = dets()
    out = track(frames)
    assert_never_dropped(frames, out)
    assert len(out[10]) == 1
    assert out[10].track_ids[0] == out[9].track_ids[0] == out[11].track_ids[0]
    middle = (truth[9] + truth[11]) / 2
    assert covered(truth[10], out[10].boxes, tol=0)
    # grown by one frame of motion (2 px across, 1 px down) on each side, no more
    np.testing.assert_allclose(out[10].boxes[0], middle + [-2, -1, 2, 1], atol=1e-3)


def test_a_moving_face_detected_every_4th_frame_is_covered_on_every_frame():
    truth = linear_path(41, (20, 30), (3, 0), (30, 36))
    frames = sample(truth, 4)
    out = track(frames, TrackSettings.for_fps(25, 4))
    assert_never_dropped(frames, out)
    for t, box in enumerate(truth):
        assert covered(box, out[t].boxes), f"frame {t} uncovered"
    assert len({int(i) for d in out for i in d.track_ids}) == 1


@settings(max_examples=150, deadline=None)
@given(
    width=st.floats(8, 150),
    aspect=st.floats(1.0, 1.5),
    speed=st.floats(0, 0.3),
    angle=st.floats(0, 2 * math.pi),
    start=st.tuples(st.floats(-200, 800), st.floats(-200, 800)),
    detect_every=st.integers(1, 5),
    data=st.data(),
)
def test_linear_paths_are_covered_despite_cadence_and_single_misses(
        width, aspect, speed, angle, start, detect_every, data):
    phase = data.draw(st.integers(0, detect_every - 1), label="phase")
    runs = data.draw(st.integers(6, 14), label="runs")
    n = phase + detect_every * (runs - 1) + 1 + data.draw(st.integers(0, detect_every - 1))
    run_frames = list(range(phase, n, detect_every))
    miss_flags = data.draw(st.lists(st.booleans(), min_size=len(run_frames),
                                    max_size=len(run_frames)), label="misses")
    missed = set()
    for i, t in enumerate(run_frames):  # single misses: never two detection runs in a row
        if miss_flags[i] and (i == 0 or run_frames[i - 1] not in missed):
            missed.add(t)
    fps = data.draw(st.sampled_from([24.0, 25.0, 30.0, 60.0]), label="fps")
    velocity = (speed * width * math.cos(angle), speed * width * math.sin(angle))
    truth = linear_path(n, start, velocity, (width, width * aspect))
    frames = sample(truth, detect_every, phase, frozenset(missed))
    out = track(frames, TrackSettings.for_fps(fps, detect_every))
    assert_never_dropped(frames, out)
    seen = [t for t in run_frames if t not in missed]
    first = max(seen[0] - (detect_every - 1), 0)
    last = min(seen[-1] + (detect_every - 1), n - 1)
    for t in range(first, last + 1):
        assert covered(truth[t], out[t].boxes), f"frame {t} uncovered"


@pytest.mark.parametrize("detect_every", [1, 3])
def test_crossing_faces_keep_their_tracks(detect_every):
    left = linear_path(60, (0, 100), (4, 0), (40, 40))
    right = linear_path(60, (236, 125), (-4, 0), (40, 40))
    frames: list[Detections | None] = [
        dets(tuple(a), tuple(b)) if t % detect_every == 0 else None
        for t, (a, b) in enumerate(zip(left, right, strict=True))]
    out = track(frames, TrackSettings.for_fps(30, detect_every))
    assert_never_dropped(frames, out)
    left_ids = {int(d.track_ids[0]) for d, f in zip(out, frames, strict=True) if f is not None}
    right_ids = {int(d.track_ids[1]) for d, f in zip(out, frames, strict=True) if f is not None}
    assert len(left_ids) == 1 and len(right_ids) == 1 and left_ids != right_ids
    for t in range(60 - detect_every + 1):
        assert covered(left[t], out[t].boxes) and covered(right[t], out[t].boxes), t


boxes_strategy = st.tuples(st.floats(-50, 600), st.floats(-50, 600), st.floats(0, 120),
                           st.floats(0, 120), st.floats(0, 1)).map(
    lambda v: ((v[0], v[1], v[0] + v[2], v[1] + v[3]), v[4]))
frame_strategy = st.one_of(st.none(), st.lists(boxes_strategy, max_size=5))
settings_strategy = st.builds(TrackSettings, iou_match=st.floats(0.05, 1.0),
                              centre_match=st.floats(0, 3), max_gap=st.integers(0, 10),
                              extend=st.integers(0, 10), motion_scale=st.floats(0, 4))


@settings(max_examples=150, deadline=None)
@given(raw=st.lists(frame_strategy, max_size=30), track_settings=settings_strategy)
def test_no_detection_is_ever_dropped(raw, track_settings):
    frames = [None if f is None else
              Detections(np.array([b for b, _ in f], np.float32).reshape(-1, 4),
                         np.array([s for _, s in f], np.float32)) for f in raw]
    out = track(frames, track_settings)
    assert_never_dropped(frames, out)
    for d in out:
        assert np.isfinite(d.boxes).all() and np.isfinite(d.scores).all()
        assert (d.boxes[:, 2:] >= d.boxes[:, :2]).all()


def test_a_face_is_covered_from_extend_frames_before_its_first_detection():
    truth = linear_path(30, (200, 200), (2, -1), (30, 30))
    frames = [dets() if t < 10 else dets(tuple(box)) for t, box in enumerate(truth)]
    out = track(frames, TrackSettings(extend=5))
    assert [len(d) for d in out[:5]] == [0] * 5
    for t in range(5, 30):
        assert covered(truth[t], out[t].boxes, tol=0), t


def test_a_face_is_covered_for_extend_frames_after_its_last_detection():
    truth = linear_path(30, (200, 200), (-2, 1), (30, 30))
    frames = [dets(tuple(box)) if t < 20 else dets() for t, box in enumerate(truth)]
    out = track(frames, TrackSettings(extend=4))
    for t in range(24):
        assert covered(truth[t], out[t].boxes, tol=0), t
    assert [len(d) for d in out[24:]] == [0] * 6


def test_frames_without_detection_at_the_ends_take_the_nearest_boxes():
    box = (10.0, 20.0, 50.0, 60.0)
    frames: list[Detections | None] = [None] * 3 + [dets(box)] * 4 + [None] * 5
    out = track(frames, TrackSettings(extend=0))
    for d in out:
        assert covered(np.array(box), d.boxes, tol=0)
        assert len(set(d.track_ids.tolist())) == 1


def test_a_track_outlives_max_gap_misses_but_not_more():
    box = (100.0, 100.0, 140.0, 150.0)
    gap = [dets()] * 3
    out = track([dets(box)] * 3 + gap + [dets(box)] * 3, TrackSettings(max_gap=3, extend=0))
    assert all(len(d) == 1 for d in out) and len({int(d.track_ids[0]) for d in out}) == 1
    out = track([dets(box)] * 3 + gap + [dets()] + [dets(box)] * 3,
                TrackSettings(max_gap=3, extend=0))
    assert [len(d) for d in out[3:7]] == [0] * 4
    assert out[0].track_ids[0] != out[-1].track_ids[0]


def test_frames_where_detection_did_not_run_do_not_count_as_misses():
    box = (100.0, 100.0, 140.0, 150.0)
    frames = [dets(box)] + [None] * 20 + [dets(box)]
    out = track(frames, TrackSettings(max_gap=0, extend=0))
    assert all(len(d) == 1 for d in out) and len({int(d.track_ids[0]) for d in out}) == 1


def test_small_fast_faces_link_without_overlap():
    truth = linear_path(10, (0, 0), (9, 0), (10, 10))  # IoU 0 between frames
    out = track([dets(tuple(box)) for box in truth])
    assert len({int(d.track_ids[0]) for d in out}) == 1


def test_a_filled_box_keeps_the_lower_neighbouring_score():
    box = (0.0, 0.0, 20.0, 20.0)
    out = track([dets(box, score=0.9), dets(), dets(box, score=0.6)])
    assert out[1].scores.tolist() == pytest.approx([0.6])


def test_empty_all_none_and_single_frames():
    assert track([]) == []
    out = track([None] * 4)
    assert [len(d) for d in out] == [0] * 4
    assert all(d.track_ids is not None for d in out)
    single = track([dets((1, 2, 3, 4))])
    assert len(single) == 1 and single[0].boxes.tolist() == [[1, 2, 3, 4]]
    assert single[0].track_ids.tolist() == [0]
    assert [len(d) for d in track([dets()])] == [0]
    assert [len(d) for d in track([None])] == [0]


def test_for_fps_scales_with_frame_rate_and_cadence():
    assert TrackSettings.for_fps(25) == TrackSettings(max_gap=25, extend=8)
    s = TrackSettings.for_fps(30, 5)
    assert s.extend == 9 and s.max_gap == 6 and s.motion_scale == 2.5
    for fps in (10, 24, 60):
        for every in range(1, 12):
            assert TrackSettings.for_fps(fps, every).extend >= every
    with pytest.raises(ValueError):
        TrackSettings.for_fps(0)
    with pytest.raises(ValueError):
        TrackSettings.for_fps(25, 0)
    with pytest.raises(ValueError):
        TrackSettings(iou_match=0)


def test_untrackable_boxes_pass_through():
    frames = [Detections(np.array([[np.nan, 0, 10, 10], [0, 0, 10, 10]], np.float32),
                         np.array([0.9, 0.9], np.float32)), dets()]
    out = track(frames)
    assert out[0].track_ids.tolist() == [-1, 0]
    assert np.isfinite(out[1].boxes).all() and len(out[1]) == 1


def test_a_still_crowd_keeps_one_track_per_face_through_misses():
    rng = np.random.default_rng(7)
    faces = [(x * 45.0, y * 50.0, x * 45.0 + 30, y * 50.0 + 36) for x in range(4) for y in range(3)]
    frames = []
    for _ in range(40):
        keep = rng.random(len(faces)) > 0.2
        jitter = rng.normal(0, 0.5, (len(faces), 4))
        frames.append(dets(*[tuple(np.add(f, j)) for f, j, k in zip(faces, jitter, keep,
                                                                    strict=True) if k]))
    out = track(frames)
    assert_never_dropped(frames, out)
    ids_of = {i: set() for i in range(len(faces))}
    for d_in, d_out in zip(frames, out, strict=True):
        for row, tid in zip(d_in.boxes, d_out.track_ids[:len(d_in)], strict=True):
            nearest = int(np.argmin([np.abs(np.subtract(row, f)).sum() for f in faces]))
            ids_of[nearest].add(int(tid))
    assert all(len(ids) == 1 for ids in ids_of.values())
    assert len(set().union(*ids_of.values())) == len(faces)
    for d in out[1:-1]:
        for f in faces:
            assert covered(np.array(f), d.boxes, tol=3), "a missed face in the crowd is uncovered"


def test_a_face_only_the_thorough_pass_sees_stays_covered_between_its_runs():
    # Light detection every 4th frame never sees the small face; the thorough pass (every 24th)
    # does, at frames 0, 24 and 48. Every frame from 0 to 48 and 24 more after must be covered.
    for seen in ((0, 24, 48),):
        frames: list[Detections | None] = []
        for t in range(100):
            if t % 24 == 0:
                frames.append(dets((100 + t, 50, 112 + t, 62)) if t in seen else dets())
            elif t % 4 == 0:
                frames.append(dets())
            else:
                frames.append(None)
        out = track(frames, TrackSettings.for_fps(25, 4, 24))
        for t in range(0, 48 + 24):
            box = np.array([100 + t, 50, 112 + t, 62], np.float32)
            assert covered(box, out[t].boxes, tol=2.0), (seen, t)
    s = TrackSettings.for_fps(25, 4, 24)
    assert s.thorough_every == 24 and s.extend >= 24 and s.max_gap >= 7
    assert s.extrapolate < 24  # other tracks' boxes stop moving on after ~0.3 s


def _greedy_one_by_one(rank: np.ndarray) -> list[tuple[int, int]]:
    """The plain greedy walk `_greedy` must equal: every linking pair, lowest rank first."""
    none = np.iinfo(np.int64).max
    pairs = np.argwhere(rank < none)[np.argsort(rank[rank < none])]
    rows: set[int] = set()
    cols: set[int] = set()
    out = []
    for i, j in pairs.tolist():
        if i not in rows and j not in cols:
            rows.add(i)
            cols.add(j)
            out.append((i, j))
    return out


def test_greedy_matching_in_rounds_takes_the_pairs_of_the_one_by_one_walk():
    from blindspot.track import _greedy

    rng = np.random.default_rng(7)
    for _ in range(400):
        shape = tuple(rng.integers(0, 40, 2))
        links = rng.random(shape) < rng.random()
        rank = np.full(shape, np.iinfo(np.int64).max, np.int64)
        rank[links] = rng.permutation(int(links.sum()))
        assert _greedy(rank) == _greedy_one_by_one(rank)


def streamed(frames: list[Detections | None], track_settings: TrackSettings,
             asks: list[bool]) -> list[Detections]:
    """`Tracker`'s output joined: frames pushed one by one, `ready` asked after frame i when
    `asks[i]`, then `finish`."""
    tracker = Tracker(track_settings)
    out: list[Detections] = []
    for i, frame in enumerate(frames):
        tracker.push(frame)
        if asks[i % len(asks)]:
            out += tracker.ready()
            assert len(out) <= i + 1
    return out + tracker.finish()


def same(a: list[Detections], b: list[Detections]) -> None:
    assert len(a) == len(b)
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        for field in ("boxes", "scores", "track_ids", "kinds"):
            assert np.array_equal(getattr(x, field), getattr(y, field)), (t, field)


kinds_frame_strategy = st.one_of(st.none(), st.lists(
    st.tuples(boxes_strategy, st.integers(0, 1)), max_size=4))
stream_settings_strategy = st.builds(
    TrackSettings, iou_match=st.floats(0.05, 1.0), centre_match=st.floats(0, 3),
    max_gap=st.integers(0, 6), extend=st.integers(0, 12), motion_scale=st.floats(0, 4),
    extrapolate=st.integers(0, 12), thorough_every=st.sampled_from([0, 3, 6]))


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(kinds_frame_strategy, max_size=40), track_settings=stream_settings_strategy,
       asks=st.lists(st.booleans(), min_size=1, max_size=7))
def test_the_tracker_a_frame_at_a_time_gives_exactly_what_track_gives(raw, track_settings, asks):
    """What the render of a video gets while detection goes on is what tracking the whole
    video gives, frame by frame, whenever it asks."""
    frames = [None if f is None else
              Detections(np.array([b for (b, _), _ in f], np.float32).reshape(-1, 4),
                         np.array([s for (_, s), _ in f], np.float32),
                         kinds=np.array([k for _, k in f], np.uint8)) for f in raw]
    same(streamed(frames, track_settings, asks), track(frames, track_settings))


def test_the_render_trails_detection_by_about_extend_frames():
    """A face moving through 200 frames, detected every 4th: the frames come out while
    detection goes on, no more than extend + a cadence step behind it."""
    truth = linear_path(200, (10, 10), (2, 1), (40, 40))
    frames = sample(truth, 4)
    s = TrackSettings.for_fps(25, 4, 24)
    tracker = Tracker(s)
    got = 0
    for i, frame in enumerate(frames):
        tracker.push(frame)
        got += len(tracker.ready())
        if i >= 40:
            assert got >= i - s.extend - 4, i
    assert got + len(tracker.finish()) == 200


def test_a_track_seen_only_by_the_thorough_pass_holds_its_cover_back_until_settled():
    """A small face only every 24th frame sees: its cover before its first detection moves on
    all of `extend` frames; until a light detection joins the track (which would shorten
    that), the frames it covers are not returned."""
    s = TrackSettings.for_fps(25, 4, 24)
    frames: list[Detections | None] = [None] * 120
    for t in range(0, 120, 4):
        if t % 24 == 0 and t >= 48:
            frames[t] = dets((100 + t, 50, 112 + t, 62))
        elif t >= 72:
            frames[t] = dets((100 + t, 50, 112 + t, 62))  # the light pass finds it from 72
        else:
            frames[t] = dets()
    tracker = Tracker(s)
    out: list[Detections] = []
    for i, frame in enumerate(frames):
        tracker.push(frame)
        out += tracker.ready()
        if 48 <= i < 72:
            assert len(out) <= 48 - s.extend, i
    assert len(out) > 72 - s.extend
    same(out + tracker.finish(), track(frames, s))


def test_a_face_missed_for_longer_than_extend_is_interpolated_when_it_comes_back():
    """Missed for 7 runs (28 frames, longer than the 24 frames of cover held past it) and
    found again: the frames between are interpolated, as tracking the whole video does, not
    the held cover the tracker had when they were first asked for."""
    truth = linear_path(100, (10, 10), (3, 1), (40, 40))
    frames = sample(truth, 4, missed=frozenset(range(44, 72)))
    s = TrackSettings.for_fps(25, 4, 24)
    same(streamed(frames, s, [True]), track(frames, s))


# Tentative detections (video: weak face boxes nothing supported in their frame).
tentative_frame_strategy = st.one_of(st.none(), st.lists(
    st.tuples(boxes_strategy, st.integers(0, 1), st.booleans()), max_size=4))
tentative_settings_strategy = st.builds(
    TrackSettings, iou_match=st.floats(0.05, 1.0), centre_match=st.floats(0, 3),
    max_gap=st.integers(0, 6), extend=st.integers(0, 12), motion_scale=st.floats(0, 4),
    extrapolate=st.integers(0, 12), thorough_every=st.sampled_from([0, 3, 6]),
    confirm=st.integers(0, 12))


def confirmed_by_hand(frames: list[Detections | None], s: TrackSettings) -> list[np.ndarray]:
    """Per frame, which detections tracking keeps, by the rule: every supported one, and a
    tentative one where a supported one of its kind overlaps it on another frame at most
    `confirm` frames away."""
    keep = []
    for t, d in enumerate(frames):
        if d is None:
            keep.append(np.zeros(0, bool))
            continue
        flags = d.tentative_mask()
        row = ~flags
        for i in np.flatnonzero(flags):
            for u in range(max(0, t - s.confirm), min(len(frames), t + s.confirm + 1)):
                other = frames[u]
                if u == t or other is None:
                    continue
                sure = other.select(~other.tentative_mask())
                sure = sure.boxes[sure.kinds == d.kinds[i]]
                if len(sure) and (iou_matrix(d.boxes[i:i + 1], sure) >= s.iou_match).any():
                    row[i] = True
        keep.append(row)
    return keep


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(tentative_frame_strategy, max_size=40),
       track_settings=tentative_settings_strategy,
       asks=st.lists(st.booleans(), min_size=1, max_size=7))
def test_a_tentative_box_is_kept_where_a_supported_one_overlaps_it_within_confirm_frames(
        raw, track_settings, asks):
    """Each frame's own boxes out of tracking are its supported detections and the tentative
    ones a supported box of their kind overlaps within `confirm` frames, in order, none still
    marked; and the render, a frame at a time, gets exactly that too."""
    frames = [None if f is None else
              Detections(np.array([b for (b, _), _, _ in f], np.float32).reshape(-1, 4),
                         np.array([s for (_, s), _, _ in f], np.float32),
                         kinds=np.array([k for _, k, _ in f], np.uint8),
                         tentative=np.array([t for _, _, t in f], bool)) for f in raw]
    whole = track(frames, track_settings)
    same(streamed(frames, track_settings, asks), whole)
    kept = [None if d is None else d.select(k)
            for d, k in zip(frames, confirmed_by_hand(frames, track_settings), strict=True)]
    assert_never_dropped(kept, whole)
    for d, out in zip(kept, whole, strict=True):
        assert out.tentative is None
        if d is not None:
            assert np.array_equal(out.boxes[:len(d)], d.boxes)


def weak(*boxes: tuple[float, float, float, float]) -> Detections:
    """Tentative face boxes (weak, nothing supported them in their frame)."""
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.1),
                      tentative=np.ones(len(boxes), bool))


def test_a_weak_box_nothing_confirms_is_never_covered():
    """A weak box nothing supports, found in the same place run after run (a texture), and
    another beside a sure face it does not overlap: neither is covered, the face is."""
    face = (200, 50, 230, 80)
    frames: list[Detections | None] = [
        Detections.concat([weak((50, 50, 70, 70), (232, 50, 262, 80)), dets(face)])
        if t % 4 == 0 else None for t in range(60)]
    out = track(frames, TrackSettings.for_fps(25, 4, 24))
    for d in out:
        assert covered(np.array(face, np.float64), d.boxes)
        assert iou_matrix(d.boxes, np.array([[50, 50, 70, 70], [232, 50, 262, 80]])).max() < 0.3


def test_a_face_weak_before_it_is_found_for_sure_is_covered_where_it_was_weak():
    """A face that turns towards the camera: weak (nothing supports it) on the runs before
    frame 48, found for sure from there on, drifting 0.5 px a frame. Its weak boxes within
    `confirm` frames of a sure one are covered on their frames, those further back are not."""
    s = TrackSettings.for_fps(25, 4, 24)
    truth = linear_path(96, (100, 40), (0.5, 0), (30, 30))
    frames: list[Detections | None] = [None] * 96
    for t in range(0, 96, 4):
        frames[t] = dets(tuple(truth[t])) if t >= 48 else weak(tuple(truth[t]))
    out = track(frames, s)
    for t in range(48 - s.confirm, 96):
        assert covered(truth[t], out[t].boxes), t
    # Further back only the track's cover reaching `extend` frames before its first box.
    first = 48 - s.confirm
    assert all(len(out[t]) == 0 for t in range(0, first - s.extend))
    assert s.confirm == s.extend == 24


def test_a_weak_box_is_confirmed_only_by_a_box_of_its_kind():
    """A weak face box on a sure plate (a face printed on a number plate's frame, say) is not
    kept for the plate's sake."""
    plate = Detections(np.array([[10, 10, 60, 30]], np.float32), np.ones(1),
                       kinds=np.array([kind_index("plate")], np.uint8))
    frames: list[Detections | None] = [Detections.concat([plate, weak((12, 10, 58, 30))])] * 20
    out = track(frames, TrackSettings(confirm=8))
    for d in out:
        assert d.kind_names().count("face") == 0
