"""The person detector finds real people where they are, small ones through its tiles, nothing
on pictures without people, decodes YOLOX's output as YOLOX does, and ships its model intact."""

from __future__ import annotations

import shutil
from importlib import resources

import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT_FACE
from skimage import data

from blindspot.detect import onnx, people
from blindspot.detect.people import PeopleDetector, PeopleSettings, YoloxModel, decode, grid
from blindspot.detections import PERSON, iou_matrix
from blindspot.errors import BlindspotError

# The cameraman in skimage.data.camera() (512×512): head to the tripod's feet, x1, y1, x2, y2.
CAMERAMAN = (10, 70, 300, 500)


@pytest.fixture(scope="module")
def detector() -> PeopleDetector:
    return PeopleDetector()


def cameraman() -> np.ndarray:
    return np.stack([data.camera()] * 3, axis=-1)


def inside(box, region) -> bool:
    return box[0] <= region[0] and box[1] <= region[1] and box[2] >= region[2] \
        and box[3] >= region[3]


def test_finds_the_astronaut_with_her_face_and_suit(detector, astronaut):
    dets = detector.detect(astronaut)
    assert (dets.kinds == PERSON).all()
    sure = dets.above(0.5)
    assert len(sure) == 1
    assert inside(sure.boxes[0], ASTRONAUT_FACE)
    assert inside(sure.boxes[0], (40, 300, 330, 500))  # the suit down to the picture's edge


def test_finds_the_cameraman(detector):
    dets = detector.detect(cameraman()).above(0.5)
    assert len(dets) == 1
    assert iou_matrix(dets.boxes, np.array([CAMERAMAN]))[0, 0] > 0.8


def test_tiles_find_a_small_person_in_a_720p_frame(detector, no_face):
    """The cameraman shrunk to 160 px in a 1280×720 frame is 52 px in the whole pass, too
    small for YOLOX-nano; the tiles see him at 2.4× that."""
    frame = cv2.resize(no_face, (1280, 720))
    frame[420:580, 900:1060] = cv2.resize(cameraman(), (160, 160), interpolation=cv2.INTER_AREA)
    expected = np.array(CAMERAMAN) * 160 / 512 + [900, 420, 900, 420]
    dets = detector.detect(frame)
    assert len(dets) == 1
    assert iou_matrix(dets.boxes, expected[None])[0, 0] > 0.6


def test_nobody_on_pictures_without_people(detector, no_face):
    gradient = np.zeros((480, 640, 3), np.uint8)
    gradient[:] = np.linspace(0, 255, 640).astype(np.uint8)[None, :, None]
    for picture in (no_face, data.chelsea(), np.stack([data.grass()] * 3, axis=-1), gradient):
        assert len(detector.detect(picture)) == 0


def test_decodes_a_cell_as_yolox_does():
    """One output row per grid cell: offsets and log sizes in cells of its stride."""
    cells = grid()
    assert len(cells) == 52 ** 2 + 26 ** 2 + 13 ** 2 == 3549
    out = np.zeros((len(cells), 85), np.float32)
    row = 5 * 52 + 3  # stride 8, cell x 3, y 5
    out[row, :4] = [0.5, 0.5, np.log(2), np.log(4)]
    out[row, 4], out[row, 5] = 0.9, 0.8
    far = 52 ** 2 + 26 ** 2  # stride 32, cell 0, 0: a weak person, and a confident non-person
    out[far, 4], out[far, 5] = 0.5, 0.1
    out[far + 1, 4], out[far + 1, 6] = 0.9, 0.9
    dets = decode(out, cells, 0.1)
    assert len(dets) == 1 and dets.kinds[0] == PERSON
    np.testing.assert_allclose(dets.boxes[0], [20, 28, 36, 60], atol=1e-4)
    assert dets.scores[0] == pytest.approx(0.72)


def test_tiles_cover_the_picture():
    detector = PeopleDetector(model=object())  # tiles need no model
    for (w, h), count in {(640, 480): 4, (480, 640): 4, (1280, 720): 6, (1920, 1080): 6,
                          (4000, 3000): 12, (3840, 2160): 8}.items():
        tiles = detector.tiles(w, h)
        assert len(tiles) == count
        covered = np.zeros((h, w), bool)
        for t in tiles:
            covered[t.y:t.y + t.h, t.x:t.x + t.w] = True
        assert covered.all()
    video = PeopleDetector(PeopleSettings.video(), model=object())
    assert len(video.tiles(1280, 720)) == 2
    assert video.tiles(640, 360) == []  # a small frame: the whole pass only
    assert len(video.tiles(854, 480)) == 2
    assert PeopleDetector(PeopleSettings(tile_share=0), model=object()).tiles(640, 480) == []


def test_a_damaged_model_is_refused(monkeypatch, tmp_path):
    damaged = tmp_path / "models" / people.MODEL_FILE
    damaged.parent.mkdir()
    with resources.as_file(resources.files("blindspot") / "models" / people.MODEL_FILE) as real:
        shutil.copyfile(real, damaged)
    payload = bytearray(damaged.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    damaged.write_bytes(bytes(payload))
    monkeypatch.setattr(onnx.resources, "files", lambda package: tmp_path)
    with pytest.raises(BlindspotError, match="damaged"):
        YoloxModel()
