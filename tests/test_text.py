"""The text detector finds real text and plates, ships its models intact, and reads text."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blindspot.detect import reading, text
from blindspot.detect.onnx import PROVIDERS
from blindspot.detect.openvino_cpu import native_precision
from blindspot.detect.reading import TextReader, plate_like
from blindspot.detect.text import TextDetector, TextModel, TextSettings
from blindspot.detections import PLATE, TEXT
from blindspot.errors import BlindspotError

# The line "EILEEN M. COLLINS" on the blue name patch of the astronaut's suit.
ASTRONAUT_NAME = (282, 364, 328, 378)


def patch_names(shape: tuple[int, ...]) -> np.ndarray:
    """The mask of where the crew's names run on the astronaut's mission patch (letters 5-7 px
    high): the rim band of radii 25-36 px around the patch's middle, from 50 degrees left of
    its top to 40 degrees right ("COLLINS ASHBY"), and from 100 degrees either side of its top
    round the bottom ("COLEMAN HAWLEY TOGNINI": its first and last letters turn upward)."""
    r, angle = _around_patch(shape)
    return (r >= 25) & (r <= 36) & (((angle >= -50) & (angle <= 40)) | (np.abs(angle) >= 100))


def patch_name_sectors(shape: tuple[int, ...]) -> list[np.ndarray]:
    """`patch_names` cut in sectors of 10 degrees: a name's first letters are one sector."""
    _, angle = _around_patch(shape)
    names = patch_names(shape)
    sectors = [names & (angle >= a) & (angle < a + 10) for a in range(-180, 180, 10)]
    return [sector for sector in sectors if sector.sum() > 20]


def _around_patch(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's distance from the patch's middle, and its angle (0: up, 180: down)."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(xs - 171, ys - 386), np.degrees(np.arctan2(xs - 171, 386 - ys))


@pytest.fixture(scope="module")
def detector() -> TextDetector:
    return TextDetector()


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def plate_scene(text_: str = "KA 4821 B") -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey street-like picture with one white plate (black frame, black letters)."""
    rng = np.random.default_rng(1)
    scene = rng.normal(110, 12, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    cv2.rectangle(scene, (380, 300), (900, 620), (40, 40, 120), -1)  # a car's back
    x, y, w, h = 540, 480, 220, 52
    cv2.rectangle(scene, (x, y), (x + w, y + h), (245, 245, 245), -1)
    cv2.rectangle(scene, (x, y), (x + w, y + h), (0, 0, 0), 3)
    cv2.putText(scene, text_, (x + 14, y + 40), cv2.FONT_HERSHEY_SIMPLEX, 1.25, (10, 10, 10), 3)
    return scene, (x, y, x + w, y + h)


def overlap(box, target) -> float:
    """Share of `target` inside `box`."""
    ix = max(0.0, min(box[2], target[2]) - max(box[0], target[0]))
    iy = max(0.0, min(box[3], target[3]) - max(box[1], target[1]))
    return ix * iy / ((target[2] - target[0]) * (target[3] - target[1]))


def test_finds_the_astronauts_name_tag(detector, astronaut):
    dets = detector.detect(astronaut)
    assert len(dets)
    assert max(overlap(b, ASTRONAUT_NAME) for b in dets.boxes) > 0.5
    # It hugs the text: nothing the size of the suit or the picture.
    assert (dets.boxes[:, 3] - dets.boxes[:, 1]).max() < 60


def test_finds_a_plate_and_calls_it_a_plate(detector):
    scene, plate = plate_scene()
    dets = detector.detect(scene)
    hits = [i for i, b in enumerate(dets.boxes) if overlap(plate, b) > 0.8]
    assert hits, dets.boxes
    assert dets.kinds[hits[0]] == PLATE
    # The text line inside the plate is covered: the box spans the letters.
    box = dets.boxes[hits[0]]
    assert box[0] < 570 and box[2] > 730


def test_a_paragraph_of_small_lines_is_text(detector):
    page = np.full((600, 800, 3), 235, np.uint8)
    for i in range(12):
        cv2.putText(page, "the quick brown fox jumps over the lazy dog", (20, 40 + i * 44),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    dets = detector.detect(page)
    assert len(dets) >= 10
    assert (dets.kinds == TEXT).sum() >= 10


def test_finds_nothing_in_a_flat_picture(detector, no_face):
    flat = np.full((480, 640, 3), 128, np.uint8)
    assert len(detector.detect(flat)) == 0
    assert len(detector.detect(np.zeros((40, 40, 3), np.uint8))) == 0


def test_large_pictures_stay_within_the_pixel_budget(detector):
    s = detector.settings
    for w, h in [(4000, 3000), (1920, 1080), (1280, 720), (300, 200)]:
        whole, tiles = detector.scales(w, h)
        assert w * h * (whole ** 2 + tiles ** 2) <= s.max_pixels * 1.01
    assert detector.scales(1280, 720)[1] >= 1.0  # small text gets enlarged tiles
    video = TextDetector(TextSettings.video(), model=detector.model)
    whole, tiles = video.scales(1920, 1080)
    assert tiles == 0 and 1920 * 1080 * whole ** 2 <= text.VIDEO_MAX_PIXELS * 1.01


def test_float32_is_onnx_runtimes_model_and_the_default_finds_the_same_name_tag(astronaut):
    """Asked for float32 the text model is ONNX Runtime's CPU session; the default (bfloat16 on
    OpenVINO where the CPU computes it) gives nearly the same probability map and finds the
    astronaut's name tag as well."""
    exact, default = TextModel(precision="f32"), TextModel()
    assert exact.precision == "f32" and exact.session.get_providers() == PROVIDERS
    assert default.precision == native_precision("auto")
    a, b = exact.probability(astronaut), default.probability(astronaut)
    assert a.shape == b.shape == astronaut.shape[:2]
    assert np.abs(a - b).mean() < 0.01
    found = TextDetector(model=default).detect(astronaut)
    assert max(overlap(box, ASTRONAUT_NAME) for box in found.boxes) > 0.5


def test_a_damaged_model_is_refused(monkeypatch):
    monkeypatch.setattr(text, "MODEL_SHA256", "0" * 64)
    with pytest.raises(BlindspotError, match="damaged"):
        TextModel()
    monkeypatch.setattr(reading, "MODEL_SHA256", "0" * 64)
    with pytest.raises(BlindspotError, match="damaged"):
        TextReader()


def test_reads_a_rendered_word(reader):
    img = np.full((100, 520, 3), 250, np.uint8)
    cv2.putText(img, "Passport 4821", (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.8, (0, 0, 0), 4)
    scene, plate = plate_scene("KA 4821 B")
    (word, conf), (plate_text, _), (empty, _) = reader.read(img, [[0, 10, 520, 95]])[0], \
        reader.read(scene, [plate])[0], reader.read(img, [[5, 5, 5, 50]])[0]
    assert word.replace(" ", "") == "Passport4821" and conf > 0.8
    assert plate_text.replace(" ", "") == "KA4821B" and plate_like(plate_text)
    assert empty == ""


def test_plate_like():
    assert plate_like("B 123 XYZ") and plate_like("RK-867AD") and plate_like("5NCP692")
    assert not plate_like("SALVADOR")  # no digit
    assert not plate_like("2014-06-17")  # no letter
    assert not plate_like("A1")  # too short
    assert not plate_like("CUMBERLAND AVE 79")  # too long
    assert not plate_like("粤B12345")  # not a Latin plate


def arched_patch(word: str = "SOLIDARITY FOREVER", radius: int = 150,
                 size: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A round patch (white letters along the top of a blue disc, as on a sewn badge) on a
    grey picture, and the mask of its letters."""
    from PIL import Image, ImageDraw, ImageFont
    picture = Image.new("RGB", (640, 480), (120, 120, 115))
    draw = ImageDraw.Draw(picture)
    cx, cy = 320, 260
    draw.ellipse((cx - radius - 40, cy - radius - 40, cx + radius + 40, cy + radius + 40),
                 fill=(25, 40, 120))
    letters = Image.new("L", picture.size, 0)
    font = ImageFont.load_default(size=size)
    span = np.deg2rad(150)  # the word runs over 150 degrees of the rim
    for i, char in enumerate(word):
        angle = -np.pi / 2 - span / 2 + span * (i + 0.5) / len(word)
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text((size, size), char, fill=255, font=font, anchor="mm")
        glyph = glyph.rotate(-np.rad2deg(angle) - 90, resample=Image.BICUBIC)
        x, y = cx + radius * np.cos(angle), cy + radius * np.sin(angle)
        letters.paste(glyph, (int(x - size), int(y - size)), glyph)
    mask = np.asarray(letters) > 128
    rgb = np.asarray(picture).copy()
    rgb[mask] = (245, 245, 240)
    return rgb, mask


def test_text_along_an_arc_is_covered_along_the_arc(detector):
    from blindspot.redact import coverage_mask
    rgb, letters = arched_patch()
    found = detector.detect(rgb)
    covered = coverage_mask(found, 1.0, rgb.shape[1], rgb.shape[0])
    assert covered[letters].mean() >= 0.95  # every letter of the arc
    # piece by piece along the arc, not one box around its bow (the disc's middle stays)
    ys, xs = np.nonzero(letters)
    bow = np.zeros_like(covered)
    bow[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    assert covered[bow].mean() < 0.75
    assert not covered[300:330, 300:340].any()  # the disc's centre


def test_names_along_a_small_patchs_rim_are_found_along_the_rim(detector, astronaut):
    """The demo's mission patch: letters too small for the other passes; the rims pass
    unrolls the round badge and finds them."""
    from blindspot.redact import coverage_mask
    names = patch_names(astronaut.shape)
    h, w = astronaut.shape[:2]
    covered = coverage_mask(detector.detect(astronaut), 1.0, w, h)
    assert covered[names].mean() >= 0.95
    assert not covered[:300].any()  # nothing above the patch and the name tag: no face, flag
    without = TextDetector(TextSettings(rims=False), detector.model).detect(astronaut)
    assert coverage_mask(without, 1.0, w, h)[names].mean() < 0.3


def test_an_arc_is_kept_by_its_outline_only_when_the_model_is_sure():
    # A thin ring of high probability: its rectangle's mean is low, its outline's high.
    prob = np.zeros((200, 200), np.float32)
    cv2.ellipse(prob, (100, 100), (70, 70), 0, 200, 340, 0.95, 10)
    sure = text.boxes_from_probability(prob, TextSettings())
    assert len(sure) >= 3  # pieces along the arc
    weak = text.boxes_from_probability(prob * 0.75, TextSettings())  # 0.71 at most
    assert len(weak) == 0
