"""Kinds other than faces go through the same path: options, tracking, redaction, summary."""

from __future__ import annotations

import numpy as np
import pytest

from blindspot.cli import main
from blindspot.detections import FACE, PLATE, TEXT, Detections
from blindspot.options import KEEP, Options, parse_cover, parse_modes
from blindspot.redact import TEXT_PAD, coverage_mask, redact
from blindspot.track import TrackSettings, track


def test_cover_and_mode_options_parse_and_refuse():
    assert parse_cover("faces, plates,faces") == ("faces", "plates")
    assert parse_modes("blur,text=solid") == ("blur", (("text", "solid"),))
    for bad in ("", "faces,cars"):
        with pytest.raises(ValueError):
            parse_cover(bad)
    for bad in ("pixelate", "text=pixelate", "cars=blur"):
        with pytest.raises(ValueError):
            parse_modes(bad)
    options = Options(cover=("faces", "plates"), mode="blur", kind_modes=(("plates", "solid"),))
    assert [options.mode_for(k) for k in ("face", "plate", "text")] == ["blur", "solid", KEEP]
    assert Options(cover=("text",)).mode_for("plate") == "solid"
    assert not Options().finds_text() and Options(cover=("plates",)).finds_text()


@pytest.mark.parametrize("argv", [["--cover", "cars"], ["--mode", "text=pixelate"]])
def test_bad_cover_or_mode_is_one_line(tmp_path, capsys, argv):
    photo = tmp_path / "a.png"
    with pytest.raises(SystemExit) as exit_:
        main([str(photo), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("blindspot: error:")


def test_a_text_box_never_joins_a_face_track():
    """A plate passes where a face was: two tracks, and each filled box keeps its kind."""
    frames: list[Detections | None] = []
    for t in range(6):
        x = 10.0 + 4 * t
        frames.append(Detections([[x, 10, x + 40, 50]], [0.9], kinds=[FACE if t < 3 else PLATE]))
    frames[4] = None  # not a detection frame: filled from the plate's track
    out = track(frames, TrackSettings(extend=0))
    ids = {int(d.track_ids[0]): d.kind_names()[0] for d in out if len(d)}
    assert sorted(ids.values()) == ["face", "plate"]
    assert out[4].kind_names() == ["plate"]


def test_text_is_covered_as_a_padded_rectangle():
    image = np.random.default_rng(0).integers(0, 256, (100, 200, 3), np.uint8)
    box = [50.0, 40.0, 150.0, 60.0]
    covered = coverage_mask(Detections([box], [0.9], kinds=[TEXT]), 1.6, 200, 100)
    pad = TEXT_PAD * 20
    ys, xs = np.nonzero(covered)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == \
        (50 - pad, 40 - pad, 150 + pad, 60 + pad)
    assert covered.sum() == (100 + 2 * pad) * (20 + 2 * pad)  # a rectangle, not an ellipse
    face = coverage_mask(Detections([box], [0.9]), 1.6, 200, 100)
    assert covered[35, 45] and not face[35, 45]  # the padded corner: no ellipse reaches it
    out = redact(image.copy(), Detections([box], [0.9], kinds=[TEXT]), "mosaic")
    assert (out != image).any(axis=2)[covered].mean() > 0.9
    assert (out == image)[~covered].all()


def test_text_found_but_not_covered_is_kept_and_counted(tmp_path):
    """What pipeline does with a box of a kind not covered: left as it is, counted as left."""
    from blindspot.run.pipeline import anonymize_file
    photo = tmp_path / "p.png"
    from PIL import Image
    Image.fromarray(np.full((80, 160, 3), 180, np.uint8)).save(photo)
    boxes = Detections([[10, 10, 60, 30], [80, 10, 150, 30]], [0.9, 0.9], kinds=[PLATE, TEXT])
    options = Options(cover=("faces", "plates"))
    result = anonymize_file(photo, tmp_path / "o.png", options, [boxes])
    out = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    assert (out[15:25, 20:50] == 0).all() and (out[15:25, 90:140] == 180).all()
    assert result.covered == {"face": 0, "plate": 1} and result.left == {"text": 1}
    assert "0 faces, 1 plate covered; 1 text region left: --cover text" in result.summary()
    assert [d.kind_names() for d in result.detections] == [["plate"]]


def test_video_text_detection_runs_on_the_detection_cadence(tmp_path, astronaut):
    """Text is looked for on the frames faces are (every detect_every-th and the last), and
    a plate found there is covered on every frame between."""
    from conftest import write_clip_with_sound

    from blindspot.detect.detector import KindsDetector
    from blindspot.detect.text import TextDetector
    from blindspot.run.video import detect_frames

    seen = []

    class Counting:
        def __init__(self) -> None:
            self.text = TextDetector()

        def detect(self, rgb: np.ndarray) -> Detections:
            seen.append(len(seen))
            return self.text.detect(rgb)

    clip = write_clip_with_sound(tmp_path / "c.mp4", [astronaut[:256, :256]] * 10, 0)
    options = Options(cover=("plates",), detect_every=4, full_every=0)
    found = detect_frames(clip, options, KindsDetector(None, Counting()))
    assert len(seen) == 4  # frames 0, 4, 8 and the last, 9
    assert [f is None for f in found] == [False, True, True, True, False, True, True, True,
                                           False, False]
