"""The review state: faces through time, their boxes per frame, the checks on what the page
sends, the saved file (numbers only), and per-face modes through redact and anonymize_file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import blindspot
from blindspot.detections import Detections
from blindspot.redact import redact
from blindspot.review import state
from blindspot.review.state import Face, Review, StateError


def _face(**changes) -> dict:
    face = {"id": "d1", "source": "drawn", "keep": True, "mode": "solid", "start": 0,
            "end": 9, "keys": [[0, 10, 10, 30, 30], [9, 100, 10, 120, 30]]}
    return face | changes


def _review(faces: list[dict]) -> dict:
    return {"name": "a.mp4", "width": 200, "height": 100, "frames": 10, "mode": "solid",
            "faces": faces}


def test_a_face_is_interpolated_between_its_keys_and_held_within_its_range():
    face = Face("d1", "drawn", True, "solid", 2, 8, [[4, 0, 0, 10, 10], [6, 20, 0, 30, 10]])
    assert face.box_at(1) is None and face.box_at(9) is None
    assert list(face.box_at(2)) == [0, 0, 10, 10]  # held before the first key
    assert list(face.box_at(5)) == [10, 0, 20, 10]
    assert list(face.box_at(8)) == [20, 0, 30, 10]  # held after the last


def test_detections_hold_kept_faces_only_with_their_modes():
    review = Review.from_json(_review([_face(), _face(id="f1", source="detected", keep=False,
                                                      start=3, end=3, keys=[[3, 0, 0, 5, 5]]),
                                       _face(id="d2", mode="blur", start=5, end=6,
                                             keys=[[5, 50, 50, 60, 60]])]))
    dets, modes = review.detections()
    assert len(dets) == 10 and [len(d) for d in dets] == [1, 1, 1, 1, 1, 2, 2, 1, 1, 1]
    assert dets[9].boxes.tolist() == [[100, 10, 120, 30]]
    assert modes[5] == ["solid", "blur"]
    for frame in range(10):
        found, frame_modes = review.detections_at(frame)
        assert found.boxes.tolist() == dets[frame].boxes.tolist()
        assert frame_modes == modes[frame]


def test_detected_tracks_become_faces_with_few_keys():
    found = [Detections([[10 + 2 * i, 10, 40 + 2 * i, 40]], [0.9], np.array([7]))
             for i in range(20)]
    review = state.from_detections("a.mp4", 200, 100, found, blindspot.Options(mode="mosaic"))
    (face,) = review.faces
    assert (face.id, face.start, face.end, face.mode) == ("t1", 0, 19, "mosaic")
    assert len(face.keys) == 2  # linear motion: the ends are enough
    dets, _ = review.detections()
    for i, d in enumerate(dets):
        assert np.allclose(d.boxes, found[i].boxes)


def test_each_kind_starts_kept_or_left_visible_in_its_own_mode():
    """Text found while only plates are covered starts left visible, with the mode it gets if
    the reviewer covers it; the kinds reach the boxes to cover (text is covered as text)."""
    photo = [Detections([[10, 10, 40, 40], [50, 10, 150, 30], [50, 50, 110, 70]],
                        [0.9, 0.8, 0.7], kinds=[0, 2, 1])]
    options = blindspot.Options(cover=("faces", "plates"), mode="blur",
                                kind_modes=(("plates", "solid"), ("text", "mosaic")))
    review = state.from_detections("a.png", 200, 100, photo, options)
    assert [(f.id, f.kind, f.keep, f.mode) for f in review.faces] == [
        ("f1", "face", True, "blur"), ("f2", "text", False, "mosaic"),
        ("f3", "plate", True, "solid")]
    dets, modes = review.detections()
    assert dets[0].kind_names() == ["face", "plate"] and modes == [["blur", "solid"]]
    found, frame_modes = review.detections_at(0)
    assert found.kind_names() == ["face", "plate"] and frame_modes == ["blur", "solid"]
    # for the export: text left visible comes along, in mode KEEP, to be counted as left
    dets, modes = review.detections(left=True)
    assert dets[0].kind_names() == ["face", "text", "plate"]
    assert modes == [["blur", "keep", "solid"]]
    # covering the text (the page) covers it in its mode; the state keeps the kind
    review.faces[1].keep = True
    again = Review.from_json(json.loads(json.dumps(review.to_json())))
    assert [f.kind for f in again.faces] == ["face", "text", "plate"]
    assert again.detections()[1] == [["blur", "mosaic", "solid"]]
    # tracks in a video: kept per kind, even where two kinds share a track id
    video = [Detections([[10, 10, 40, 40], [50, 10, 150, 30]], [0.9, 0.8], np.array([1, 1]),
                        [0, 2]) for _ in range(3)]
    tracks = state.from_detections("a.mp4", 200, 100, video, blindspot.Options(
        cover=("faces", "text"))).faces
    assert [(f.id, f.kind, f.keep, f.mode, f.end) for f in tracks] == [
        ("t1", "face", True, "solid", 2), ("t2", "text", True, "solid", 2)]


def test_a_state_saved_before_kinds_loads_as_faces(tmp_path):
    output = tmp_path / "scene.anon.png"
    old = {"blindspot_review": 1, "name": "scene.png", "width": 200, "height": 100,
           "frames": 1, "mode": "solid", "reviewed": True,
           "faces": [{"id": "f1", "source": "detected", "keep": True, "mode": "blur",
                      "start": 0, "end": 0, "score": 0.9, "keys": [[0, 10, 10, 40, 40]]}]}
    state.state_path(output).write_text(json.dumps(old))
    review = state.load(output)
    assert review is not None and [f.kind for f in review.faces] == ["face"]
    assert review.detections()[0][0].kind_names() == ["face"]
    assert review.to_json()["faces"][0]["kind"] == "face"


def _speech(**changes) -> dict:
    span = {"id": "s1", "source": "detected", "start": 1.5, "end": 3.25, "voice": "mute"}
    return span | changes


def test_speech_spans_load_clamped_and_give_the_edits():
    from blindspot.audio.speech import Span
    review = Review.from_json(_review([]) | {"sound": 6.0, "speech": [
        _speech(id="s2", start=4.0, end=9.0, voice="keep"), _speech(),
        _speech(id="m1", source="marked", start=-0.5, end=0.75, voice="disguise")]})
    assert review.sound == 6.0
    assert [(s.id, s.source, s.start, s.end, s.voice) for s in review.speech] == [
        ("s2", "detected", 4.0, 6.0, "keep"), ("s1", "detected", 1.5, 3.25, "mute"),
        ("m1", "marked", 0.0, 0.75, "disguise")]  # clamped to the sound's [0, 6]
    assert review.speech_edits() == [(Span(0.0, 0.75), "disguise"), (Span(1.5, 3.25), "mute"),
                                     (Span(4.0, 6.0), "keep")]
    again = Review.from_json(json.loads(json.dumps(review.to_json())))
    assert again.to_json() == review.to_json() and again.speech_edits() == review.speech_edits()
    # found speech: one span per span found, each in the session's voice
    spans = state.speech_spans([Span(0.5, 1.0), Span(2.0, 3.0)], "disguise")
    assert [(s.id, s.source, s.voice) for s in spans] == [("s1", "detected", "disguise"),
                                                          ("s2", "detected", "disguise")]
    # a video without sound: looked for, none; nothing to edit
    silent = Review.from_json(_review([]) | {"sound": 0, "speech": []})
    assert silent.speech_edits() == [] and silent.to_json()["sound"] == 0


def test_a_state_saved_before_voices_loads_with_no_speech(tmp_path):
    output = tmp_path / "march.anon.mp4"
    state.state_path(output).write_text(json.dumps(_review([_face()])))
    review = state.load(output)
    assert review is not None and review.speech == [] and review.sound is None
    assert review.speech_edits() is None  # never looked for: the export finds it
    assert "speech" not in review.to_json() and "sound" not in review.to_json()


@pytest.mark.parametrize("bad", [
    {"sound": 5, "speech": [_speech(voice="whisper")]},
    {"sound": 5, "speech": [_speech(voice=None)]},
    {"sound": 5, "speech": [_speech(source="drawn")]},
    {"sound": 5, "speech": [_speech(id="")]}, {"sound": 5, "speech": [_speech(id="x" * 40)]},
    {"sound": 5, "speech": [_speech(start=3, end=2)]},
    {"sound": 5, "speech": [_speech(start=2, end=2)]},
    {"sound": 5, "speech": [_speech(start=5.5, end=7)]},  # wholly past the sound's end
    {"sound": 5, "speech": [_speech(start=float("nan"))]},
    {"sound": 5, "speech": [_speech(start="1")]}, {"sound": 5, "speech": [_speech(end=True)]},
    {"sound": 5, "speech": [_speech(), _speech()]}, {"sound": 5, "speech": ["a span"]},
    {"sound": 5, "speech": {"s1": _speech()}},
    {"sound": 5, "speech": [_speech(id=f"s{i}") for i in range(state.MAX_SPEECH + 1)]},
    {"sound": -1, "speech": []}, {"sound": float("inf"), "speech": []}, {"sound": "5"},
    {"speech": [_speech()]},  # spans without the sound's length
])
def test_malformed_speech_is_refused(bad):
    with pytest.raises(StateError):
        Review.from_json(_review([]) | bad)


def test_simplify_keeps_every_turn():
    keys = [[i, float(abs(i - 5)), 0, 10, 10] for i in range(11)]
    kept = state.simplify(keys)
    assert [k[0] for k in kept] == [0, 5, 10]


@pytest.mark.parametrize("bad", [
    _face(mode="invisible"), _face(source="ai"), _face(id=""), _face(id="x" * 40),
    _face(start=5, end=2), _face(end=10), _face(keys=[]), _face(keys=[[0, 10, 10, 5, 30]]),
    _face(keys=[[0, float("nan"), 0, 5, 5]]), _face(keys=[[0, 1e9, 0, 2e9, 5]]),
    _face(keys=[[12, 0, 0, 5, 5]]), _face(keys=[[0, 0, 0, 5, 5], [0, 1, 1, 6, 6]]),
    _face(keys=[[0, "0", 0, 5, 5]]), _face(keys=[[0, 0, 0, 5]]), _face(start=True),
    _face(kind="body"), _face(kind=""), _face(kind=None), _face(kind=["text"]), "a face",
])
def test_a_malformed_review_is_refused(bad):
    with pytest.raises(StateError):
        Review.from_json(_review([bad]))


def test_duplicate_ids_and_too_many_faces_are_refused():
    with pytest.raises(StateError):
        Review.from_json(_review([_face(), _face()]))
    with pytest.raises(StateError):
        Review.from_json(_review([_face(id=f"d{i}") for i in range(state.MAX_FACES + 1)]))


def test_saved_review_is_small_holds_numbers_only_and_loads_back(tmp_path):
    output = tmp_path / "march.anon.mp4"
    review = Review.from_json(_review([_face()]))
    path = state.save(review, output)
    assert path.name == "march.anon.mp4.review.json" and not output.exists()
    data = json.loads(path.read_text())
    assert data["faces"][0]["keys"] == [[0, 10.0, 10.0, 30.0, 30.0], [9, 100.0, 10.0, 120.0, 30.0]]
    assert path.stat().st_size < 500
    assert state.load(output).to_json() == review.to_json()
    path.write_text("{not json")
    assert state.load(output) is None


def test_redact_takes_a_mode_per_box():
    image = np.random.default_rng(0).integers(0, 256, (100, 200, 3), np.uint8)
    dets = Detections([[10, 10, 50, 50], [120, 10, 160, 50]], [1, 1])
    out = redact(image.copy(), dets, "solid", 1.0, modes=["solid", "mosaic"])
    assert out[15:45, 15:45].max() == 0
    mosaic = out[15:45, 125:155]
    assert mosaic.max() > 0 and len(np.unique(mosaic.reshape(-1, 3), axis=0)) < 40
    with pytest.raises(ValueError):
        redact(image.copy(), dets, "solid", modes=["solid"])


def test_anonymize_file_covers_each_face_in_its_mode(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (100, 200, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    dets = [Detections([[10, 10, 50, 50], [120, 10, 160, 50]], [1, 1])]
    blindspot.anonymize_file(tmp_path / "in.png", tmp_path / "out.png", blindspot.Options(),
                             dets, [["mosaic", "solid"]])
    out = np.array(Image.open(tmp_path / "out.png"))
    assert out[15:45, 15:45].max() > 0 and out[15:45, 125:155].max() == 0
    assert np.array_equal(out[60:100, 60:110], pixels[60:100, 60:110])
    with pytest.raises(ValueError):
        blindspot.anonymize_file(tmp_path / "in.png", tmp_path / "x.png", None, None,
                                 [["solid"]])


def test_a_video_covers_each_face_in_its_own_mode(tmp_path):
    import av
    rng = np.random.default_rng(0)
    with av.open(str(tmp_path / "in.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for _ in range(5):
            picture = rng.integers(60, 200, (96, 160, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    dets = [Detections([[10, 10, 50, 50], [100, 10, 140, 50]], [1.0, 1.0])] * 5
    blindspot.anonymize_file(tmp_path / "in.mp4", tmp_path / "out.mp4", blindspot.Options(),
                             dets, [["solid", "blur"]] * 5)
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5
    for rgb in frames:
        assert rgb[20:40, 20:40].max() < 30  # solid: black
        assert rgb[20:40, 110:130].mean() > 60  # blurred: the picture's mean grey, not black
