"""Every photo format in and out: faces covered, upright, right colours, no metadata left."""

from __future__ import annotations

import cv2
import numpy as np
import pillow_heif
import pytest
from conftest import ASTRONAUT_FACE, far_region
from PIL import Image, ImageCms

import blindspot
from blindspot.media.residue import exiftool_tags, identifying_tags

pillow_heif.register_heif_opener()

XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Jane Example"/></rdf:RDF>'
       b'</x:xmpmeta><?xpacket end="w"?>')


def tagged_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with everything that identifies: place, device, serial, time, owner."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "ExampleCam", "X100 Pro"
    exif[0x0131], exif[0x013B] = "Firmware 1.2", "Jane Example"
    exif[0x0132] = "2026:05:01 14:03:22"
    if orientation != 1:
        exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0xA431], sub[0x9003] = "SN-0012345678", "2026:05:01 14:03:22"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (52.0, 31.0, 12.3), "E", (13.0, 24.0, 34.5)
    return exif


def save_tagged(image: Image.Image, path, fmt: str, **extra) -> None:
    """Save with real EXIF (and XMP where Pillow writes it) as a camera or phone would."""
    options = {"exif": tagged_exif(extra.pop("orientation", 1))}
    if fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["xmp"] = XMP
    if fmt == "BMP":
        options = {}
    if fmt == "GIF":
        options = {"comment": b"shot by Jane Example at 52.5N 13.4E"}
    options.update(extra)
    image.save(path, fmt, **options)


def decoded(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def assert_face_covered(out: np.ndarray, box=ASTRONAUT_FACE) -> None:
    x1, y1, x2, y2 = box
    centre = out[y1 + 40:y2 - 40, x1 + 30:x2 - 30].astype(int)
    assert centre.mean() < 25, "the face is not covered (solid mode paints black)"


def assert_no_identifying_tags(path) -> None:
    tags = exiftool_tags(path)
    assert tags, "exiftool could not read the output"
    assert identifying_tags(tags) == []


FORMATS = [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif"),
           ("BMP", ".bmp"), ("HEIF", ".heic")]


@pytest.mark.parametrize("fmt,ext", FORMATS)
def test_format_round_trip(tmp_path, astronaut, fmt, ext):
    src = tmp_path / f"photo{ext}"
    save_tagged(Image.fromarray(astronaut), src, fmt)
    if fmt != "BMP":
        assert identifying_tags(exiftool_tags(src)), "the fixture must carry metadata"
    out = tmp_path / f"photo.anon{ext}"
    result = blindspot.anonymize_file(src, out)
    assert result.faces >= 1
    with Image.open(out) as im:
        assert im.format == fmt and im.size == (512, 512)
    pixels = decoded(out)
    assert_face_covered(pixels)
    tolerance = 20 if fmt in ("JPEG", "WEBP", "HEIF") else 0
    assert np.abs(far_region(pixels).astype(int) - far_region(astronaut)).mean() <= tolerance
    assert_no_identifying_tags(out)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_and_dropped(tmp_path, astronaut, orientation):
    # Store the picture the way a camera held sideways does: pixels rotated, tag says how to
    # turn them back. The output must be upright with the face covered where it shows.
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270}[orientation]
    stored = Image.fromarray(astronaut).transpose(turn)
    src = tmp_path / "sideways.jpg"
    save_tagged(stored, src, "JPEG", orientation=orientation, quality=95)
    out = tmp_path / "sideways.anon.jpg"
    blindspot.anonymize_file(src, out)
    pixels = decoded(out)
    assert pixels.shape == (512, 512, 3)
    assert_face_covered(pixels)
    assert np.abs(far_region(pixels).astype(int) - far_region(astronaut)).mean() < 20
    assert "IFD0:Orientation" not in exiftool_tags(out)


def test_detect_reports_displayed_pixels(tmp_path, astronaut):
    src = tmp_path / "sideways.jpg"
    stored = Image.fromarray(astronaut).transpose(Image.Transpose.ROTATE_90)
    save_tagged(stored, src, "JPEG", orientation=6)
    boxes = blindspot.detect_file(src)[0].boxes
    x1, y1, x2, y2 = ASTRONAUT_FACE
    assert any(abs(b[0] - x1) < 40 and abs(b[1] - y1) < 40 for b in boxes)


@pytest.mark.parametrize("mode", ["solid", "mosaic", "blur"])
def test_modes_hide_the_face(tmp_path, astronaut, mode):
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "a.anon.png"
    blindspot.anonymize_file(src, out, blindspot.Options(mode=mode))
    pixels = decoded(out)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    face_in, face_out = astronaut[y1:y2, x1:x2].astype(float), pixels[y1:y2, x1:x2].astype(float)
    assert np.abs(face_in - face_out).mean() > 15
    # No fine detail of the original (eyes, mouth) survives: the high-pass parts of input
    # and output are uncorrelated.
    def detail(a):
        grey = a.mean(axis=2)
        return grey - cv2.GaussianBlur(grey, (0, 0), 3)
    correlation = np.corrcoef(detail(face_in).ravel(), detail(face_out).ravel())[0, 1]
    assert abs(np.nan_to_num(correlation)) < 0.1


def test_animated_gif_every_frame(tmp_path, astronaut):
    frames = [Image.fromarray(np.roll(astronaut, shift, axis=1)) for shift in (0, 40, 80)]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=[100, 200, 300],
                   loop=0, comment=b"Jane Example")
    out = tmp_path / "anim.anon.gif"
    result = blindspot.anonymize_file(src, out)
    assert result.frames == 3 and result.faces >= 3
    with Image.open(out) as im:
        assert im.n_frames == 3
        for index, shift in enumerate((0, 40, 80)):
            im.seek(index)
            x1, y1, x2, y2 = ASTRONAUT_FACE
            assert_face_covered(np.asarray(im.convert("RGB")), (x1 + shift, y1, x2 + shift, y2))
            assert im.info.get("duration") == [100, 200, 300][index]
    assert_no_identifying_tags(out)


def test_animated_webp_every_frame(tmp_path, astronaut):
    frames = [Image.fromarray(np.roll(astronaut, shift, axis=0)) for shift in (0, 60)]
    src = tmp_path / "anim.webp"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=150, loop=0,
                   exif=tagged_exif(), xmp=XMP)
    out = tmp_path / "anim.anon.webp"
    result = blindspot.anonymize_file(src, out)
    assert result.frames == 2
    with Image.open(out) as im:
        assert im.n_frames == 2
        im.seek(1)
        x1, y1, x2, y2 = ASTRONAUT_FACE
        assert_face_covered(np.asarray(im.convert("RGB")), (x1, y1 + 60, x2, y2 + 60))
    assert_no_identifying_tags(out)


def test_sixteen_bit_grey_png(tmp_path, astronaut):
    grey = (np.asarray(Image.fromarray(astronaut).convert("L")).astype(np.uint16) * 257)
    src = tmp_path / "deep.png"
    Image.fromarray(grey).save(src)
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    out = tmp_path / "deep.anon.png"
    blindspot.anonymize_file(src, out)
    with Image.open(out) as im:
        assert im.mode == "L"
        pixels = np.asarray(im)
    assert_face_covered(np.dstack([pixels] * 3))
    assert abs(int(pixels[450, 70]) - int(grey[450, 70] // 257)) <= 1


def test_cmyk_jpeg_with_icc_profile_comes_out_srgb(tmp_path, astronaut):
    src = tmp_path / "print.jpg"
    Image.fromarray(astronaut).convert("CMYK").save(src, quality=95)
    out = tmp_path / "print.anon.jpg"
    blindspot.anonymize_file(src, out)
    with Image.open(out) as im:
        assert im.mode == "RGB" and "icc_profile" not in im.info
        pixels = np.asarray(im)
    assert_face_covered(pixels)
    assert np.abs(far_region(pixels).astype(int) - far_region(astronaut)).mean() < 25


def test_srgb_profile_is_applied_and_not_written(tmp_path, astronaut):
    """Pixels with an embedded profile come out in sRGB with no profile in the file."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    src = tmp_path / "tagged.png"
    Image.fromarray(astronaut).save(src, icc_profile=profile.tobytes())
    out = tmp_path / "tagged.anon.png"
    blindspot.anonymize_file(src, out)
    with Image.open(out) as im:
        assert "icc_profile" not in im.info
        pixels = np.asarray(im.convert("RGB"))
    assert np.abs(far_region(pixels).astype(int) - far_region(astronaut)).mean() <= 2


def test_palette_and_alpha_png(tmp_path, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:50, :50, 3] = 0  # a transparent corner
    rgba[:50, :50, :3] = 200  # hidden pixels under it
    src = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(src)
    out = tmp_path / "alpha.anon.png"
    blindspot.anonymize_file(src, out)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        result = np.asarray(im)
    assert (result[:50, :50, 3] == 0).all()
    assert (result[:50, :50, :3] == 0).all(), "invisible pixels must not carry content"
    assert_face_covered(result[..., :3])

    src = tmp_path / "palette.png"
    Image.fromarray(astronaut).quantize(64).save(src)
    out = tmp_path / "palette.anon.png"
    blindspot.anonymize_file(src, out)
    assert_face_covered(decoded(out))


def test_output_format_follows_the_extension(tmp_path, astronaut):
    src = tmp_path / "photo.heic"
    Image.fromarray(astronaut).save(src, "HEIF")
    out = tmp_path / "photo.jpg"
    blindspot.anonymize_file(src, out)
    with Image.open(out) as im:
        assert im.format == "JPEG"


def test_anonymize_image_in_memory(astronaut):
    covered, faces = blindspot.anonymize_image(astronaut)
    assert len(faces) >= 1
    assert_face_covered(covered)
    assert not np.shares_memory(covered, astronaut)
    with pytest.raises(ValueError):
        blindspot.anonymize_image(astronaut[..., 0])


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"),
                                     ("TIFF", ".tif"), ("GIF", ".gif"), ("HEIF", ".heic")])
def test_clean_keeps_pixels_and_drops_metadata(tmp_path, no_face, fmt, ext):
    src = tmp_path / f"street{ext}"
    save_tagged(Image.fromarray(no_face), src, fmt)
    out = tmp_path / f"street.clean{ext}"
    blindspot.clean_file(src, out)
    before, after = decoded(src), decoded(out)
    if fmt == "HEIF":  # re-encoded: HEIF has no lossless path in blindspot
        assert np.abs(before.astype(int) - after).mean() < 4
    else:
        assert np.array_equal(before, after)
    assert_no_identifying_tags(out)


def test_clean_keeps_a_sideways_jpeg_displayed_upright(tmp_path, no_face):
    src = tmp_path / "sideways.jpg"
    save_tagged(Image.fromarray(no_face), src, "JPEG", orientation=6)
    out = tmp_path / "sideways.clean.jpg"
    blindspot.clean_file(src, out)
    tags = exiftool_tags(out)
    assert tags.get("IFD0:Orientation") == 6
    assert identifying_tags(tags) == []
    with Image.open(src) as a, Image.open(out) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))  # the same coded pixels


def test_written_files_are_not_private_temp_files(tmp_path, no_face):
    src = tmp_path / "c.png"
    Image.fromarray(no_face).save(src)
    out = tmp_path / "c.anon.png"
    blindspot.anonymize_file(src, out)
    assert out.stat().st_mode & 0o044  # readable like any new file, not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.anon.png", "c.png"]
