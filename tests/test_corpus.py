"""The bad-input corpus: every hostile, damaged or odd input, generated here (no binaries are
committed), run through the real command.

Each case is built in a fresh folder and run with `blindspot.cli.main` (in this process, for
speed) or as a real process where the case needs one (permissions, pipes, a file that changes
while it is read, names that are not UTF-8). Expectations:

- "fail": exit code non-zero, stderr exactly one `blindspot: error:` line naming the input,
  no traceback, no "internal error" (a bad file is not a bug of ours), nothing on stdout, and
  the folder byte-identical afterwards: no output, no temporary file, the input untouched.
- "ok": processed correctly: exit 0, no stderr, the input untouched, and each new file is a
  complete output (every frame decodes; a video has as many frames as its input).

The anonymize command runs every case; photo cases run through `clean` as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import fractions
import hashlib
import io
import os
import random
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pillow_heif
import pytest
from PIL import Image
from skimage import data as skdata

from blindspot import cli
from blindspot.detections import Detections
from blindspot.errors import BlindspotError
from blindspot.run.pipeline import anonymize_file

pillow_heif.register_heif_opener()

VIDEO = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_here(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """`blindspot ARGS…` in this process (the model stays loaded between cases)."""
    capsys.readouterr()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse's exit 2
        code = int(e.code or 0)
    finally:
        os.chdir(before)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _drop_permission_override() -> None:
    """In the child, before exec: lose CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that root
    obeys file permissions as any user does (CI runs as root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_process(args: list[str], cwd: Path, *, as_user: bool = False,
                timeout: float = 120) -> Run:
    """`blindspot ARGS…` as a real process; `as_user`: without root's permission override."""
    result = subprocess.run(
        [sys.executable, "-m", "blindspot.cli", *args], cwd=cwd, capture_output=True,
        timeout=timeout, check=False,
        preexec_fn=_drop_permission_override if as_user and os.geteuid() == 0 else None,
    )
    return Run(result.returncode, result.stdout.decode("utf-8", "backslashreplace"),
               result.stderr.decode("utf-8", "backslashreplace"))


def permissions_apply() -> bool:
    """Whether a process started by `run_process(as_user=True)` is refused an unreadable file."""
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"blindspot-perm-{os.getpid()}"
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        code = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}, 'rb')"], capture_output=True,
            check=False, preexec_fn=_drop_permission_override if os.geteuid() == 0 else None,
        ).returncode
    except OSError:
        return False
    finally:
        probe.unlink()
    return code != 0


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below `folder` (dot files included) with each file's sha256;
    pipes, links and unreadable things by their kind."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = os.fsencode(path.relative_to(folder)).hex()
        if path.is_symlink():
            found[key] = "link:" + os.readlink(path)
        elif path.is_fifo():
            found[key] = "<fifo>"
        elif path.is_dir():
            found[key] = "<dir>"
        else:
            try:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:
                found[key] = "<unreadable>"
    return found


def decodes_completely(path: Path) -> int:
    """The number of frames of the output at `path`, after decoding every one of them."""
    if path.suffix.lower() in VIDEO:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            return sum(1 for _ in container.decode(stream))
    with Image.open(path) as image:
        frames = getattr(image, "n_frames", 1)
        for index in range(frames):
            image.seek(index)
            image.load()
        return frames


def video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# --------------------------------------------------------------------------- building files


def picture(width: int = 64, height: int = 48) -> Image.Image:
    return Image.fromarray(skdata.coffee()).resize((width, height))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def cut(blob: bytes, at: float | int) -> bytes:
    return blob[:at] if isinstance(at, int) else blob[:int(len(blob) * at)]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def png_raw(width: int, height: int, depth: int, colour: int, rows: bytes | None = None) -> bytes:
    """A PNG written by hand (for what Pillow cannot write: 16-bit RGB, absurd headers)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    if rows is None:
        row = b"\x00" + bytes(range(256)) * (width * channels * depth // 8 // 256 + 1)
        rows = row[:1 + width * channels * depth // 8] * height
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims `width`×`height` px."""
    blob = bytearray(encode(picture(16, 16), "JPEG"))
    sof = blob.index(b"\xff\xc0")
    blob[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(blob)


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen is `width`×`height` px around a 16×16 frame."""
    blob = bytearray(encode(picture(16, 16).convert("P"), "GIF"))
    blob[6:10] = struct.pack("<HH", width, height)
    return bytes(blob)


def tiff_claiming(width: int, height: int) -> bytes:
    """A 1×1 TIFF whose ImageWidth and ImageLength tags claim `width`×`height` px."""
    blob = bytearray(encode(picture(1, 1), "TIFF"))
    assert blob[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", blob, 4)[0]
    for i in range(struct.unpack_from("<H", blob, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", blob, at)[0]
        if tag in (0x100, 0x101):
            struct.pack_into("<HHII", blob, at, tag, 4, 1, width if tag == 0x100 else height)
    return bytes(blob)


def webp_claiming(width: int, height: int) -> bytes:
    """An extended WebP whose canvas (VP8X) claims `width`×`height` px around a 16×16 frame."""
    blob = encode(picture(16, 16), "WEBP", lossless=True)
    vp8l = blob[12:]
    flags = bytes(4)
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + flags + size + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_frames(count: int, size: tuple[int, int] = (24, 16)) -> bytes:
    rng = np.random.default_rng(count)
    frames = [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
              for _ in range(min(count, 8))]
    frames = [frames[i % len(frames)] for i in range(count)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)


def webp_frames(count: int) -> bytes:
    rng = np.random.default_rng(count)
    frames = [Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8))
              for _ in range(count)]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=40,
                  lossless=True)


def clip(path: Path, fmt: str | None = None, frames: int = 12, size: tuple[int, int] = (64, 48),
         codec: str = "libx264", audio: bool = False, video: bool = True,
         data_stream: bool = False, movflags: str | None = None) -> Path:
    """A small clip written with PyAV: random pictures, optional AAC sound or a data stream."""
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", format=fmt, container_options=options) as out:
        stream = None
        if video:
            stream = out.add_stream(codec, rate=10)
            stream.width, stream.height = size
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        sound = out.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        data = out.add_data_stream("bin_data") if data_stream else None
        if data is not None:
            data.time_base = fractions.Fraction(1, 1000)
        rng = np.random.default_rng(frames)
        for index in range(frames if stream is not None else 0):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode(None))
        if sound is not None:
            for index in range(10):
                samples = np.zeros((1, 1024), np.float32)
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 48000, index * 1024
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
        if data is not None:
            for index in range(5):
                packet = av.Packet(b"GPS 48.8584 2.2945 " + bytes([index]))
                packet.stream, packet.pts, packet.dts = data, index * 100, index * 100
                packet.time_base = data.time_base
                out.mux(packet)
    return path


def clip_bytes(suffix: str = ".mp4", **options: object) -> bytes:
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    path = folder / f"blindspot-clip-{os.getpid()}-{threading.get_ident()}{suffix}"
    try:
        return clip(path, **options).read_bytes()
    finally:
        path.unlink(missing_ok=True)


def corrupt_middle_packet(blob: bytes, suffix: str) -> bytes:
    """The bytes of the middle video packet (from its 5th byte on, or its second half)
    replaced by noise: a damaged frame in the middle of an otherwise whole file."""
    with av.open(io.BytesIO(blob)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos >= 0]
    pos, size = packets[len(packets) // 2]
    start = pos + (4 if suffix == ".mp4" else size // 2)
    damaged = bytearray(blob)
    damaged[start:pos + size] = random.Random(2).randbytes(pos + size - start)
    return bytes(damaged)


# --------------------------------------------------------------------------- the cases


@dataclass
class Case:
    build: Callable[[Path], list[str]]  # writes the files into a folder, returns the arguments
    expect: str  # "fail" or "ok"
    process: bool = False  # run as a real process
    as_user: bool = False  # ... without root's permission override
    commands: tuple[str, ...] = ("anonymize", "clean")
    note: str = ""
    extra: list[str] = field(default_factory=list)


def file(name: str, content: bytes | Callable[[], bytes], *extra: str
         ) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / name).write_bytes(content() if callable(content) else content)
        return [name, *extra]
    return build


def video_file(name: str, make: Callable[[Path], object], *extra: str
               ) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        make(folder / name)
        return [name, *extra]
    return build


def _cut_clip(at: float, suffix: str = ".mp4", **options: object) -> Callable[[], bytes]:
    return lambda: cut(clip_bytes(suffix, **options), at)


def _faststart_cut(suffix: str, at: float) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        whole = clip(path.with_name("whole" + suffix), frames=30, movflags="+faststart")
        path.write_bytes(cut(whole.read_bytes(), at))
        whole.unlink()
    return make


def _unreadable(folder: Path) -> list[str]:
    path = folder / "locked.jpg"
    path.write_bytes(encode(picture(), "JPEG"))
    path.chmod(0)
    return ["locked.jpg"]


def _unreadable_video(folder: Path) -> list[str]:
    clip(folder / "locked.mp4")
    (folder / "locked.mp4").chmod(0)
    return ["locked.mp4"]


def _self_loop(folder: Path) -> list[str]:
    (folder / "loop.jpg").symlink_to("loop.jpg")
    return ["loop.jpg"]


def _link_to_device(folder: Path) -> list[str]:
    (folder / "zero.jpg").symlink_to("/dev/zero")
    return ["zero.jpg"]


def _fifo(name: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        os.mkfifo(folder / name)
        return [name]
    return build


def _long_output_name(folder: Path) -> list[str]:
    name = "x" * (255 - len(".jpg")) + ".jpg"  # fits; NAME.anon.jpg does not
    (folder / name).write_bytes(encode(picture(), "JPEG"))
    return [name]


def _path_too_long(folder: Path) -> list[str]:
    return ["/".join(["d" * 250] * 20) + "/photo.jpg"]


def _not_utf8(folder: Path) -> list[str]:
    name = os.fsdecode(b"caf\xe9-\xff\xfe.jpg")
    (folder / name).write_bytes(encode(picture(), "JPEG"))
    return [name]


def _output_under_a_file(folder: Path) -> list[str]:
    (folder / "photo.jpg").write_bytes(encode(picture(), "JPEG"))
    (folder / "taken").write_bytes(b"a file where the output folder would be")
    return ["photo.jpg", "-o", "taken/photo.jpg"]


def _output_is_input(folder: Path) -> list[str]:
    (folder / "photo.jpg").write_bytes(encode(picture(), "JPEG"))
    return ["photo.jpg", "-o", "photo.jpg", "--force"]


def _output_exists(folder: Path) -> list[str]:
    (folder / "photo.jpg").write_bytes(encode(picture(), "JPEG"))
    (folder / "done.jpg").write_bytes(b"an older output")
    return ["photo.jpg", "-o", "done.jpg"]


def _read_only_folder(folder: Path) -> list[str]:
    (folder / "ro").mkdir()
    (folder / "ro" / "photo.jpg").write_bytes(encode(picture(), "JPEG"))
    (folder / "ro").chmod(0o555)
    return ["ro/photo.jpg"]


def _symlink_loops(folder: Path) -> list[str]:
    """A tree whose links lead back up (a/b/up → a, a/b/c/top → the root, a/self → a)."""
    (folder / "a" / "b" / "c").mkdir(parents=True)
    (folder / "a" / "p.jpg").write_bytes(encode(picture(), "JPEG"))
    (folder / "a" / "b" / "q.png").write_bytes(encode(picture(), "PNG"))
    (folder / "a" / "b" / "up").symlink_to("..")
    (folder / "a" / "b" / "c" / "top").symlink_to("../../..")
    (folder / "a" / "self").symlink_to(".")
    return ["a", "-o", "out", "--workers", "1"]


def _photo(fmt: str, mode: str, **options: object) -> Callable[[], bytes]:
    return lambda: encode(picture().convert(mode), fmt, **options)


def _grey16_png() -> bytes:
    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    return encode(Image.frombytes("I;16", (64, 48), ramp.astype("<u2").tobytes()), "PNG")


def _float_tiff() -> bytes:
    return encode(Image.fromarray(np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64),
                                  "F"), "TIFF")


CASES: dict[str, Case] = {
    # zero-byte files
    **{f"zero-byte-{ext}": Case(file(f"empty.{ext}", b""), "fail",
                                commands=("anonymize",) if f".{ext}" in VIDEO else
                                ("anonymize", "clean"))
       for ext in ("jpg", "png", "webp", "heic", "gif", "tif", "mp4", "mov")},
    # truncated at several points
    "jpeg-cut-after-soi": Case(file("a.jpg", lambda: encode(picture(), "JPEG")[:2]), "fail"),
    "jpeg-cut-in-headers": Case(file("b.jpg", lambda: encode(picture(), "JPEG")[:180]), "fail"),
    "jpeg-cut-in-scan": Case(file("c.jpg", lambda: cut(encode(picture(), "JPEG"), 0.7)),
                             "fail"),
    "progressive-jpeg-cut": Case(file("d.jpg", lambda: cut(
        encode(picture(), "JPEG", progressive=True), 0.8)), "fail"),
    "png-cut-after-signature": Case(file("a.png", lambda: encode(picture(), "PNG")[:8]),
                                    "fail"),
    "png-cut-after-ihdr": Case(file("b.png", lambda: encode(picture(), "PNG")[:33]), "fail"),
    "png-cut-in-idat": Case(file("c.png", lambda: cut(encode(picture(), "PNG"), 0.6)), "fail"),
    "png-without-iend": Case(file("d.png", lambda: encode(picture(), "PNG")[:-12]), "fail"),
    "webp-cut-in-header": Case(file("a.webp", lambda: encode(picture(), "WEBP")[:14]), "fail"),
    "webp-cut-in-bitstream": Case(file("b.webp", lambda: cut(encode(picture(), "WEBP"), 0.5)),
                                  "fail"),
    "webp-cut-near-end": Case(file("c.webp", lambda: cut(encode(picture(), "WEBP",
                                                                lossless=True), 0.9)), "fail"),
    "heic-cut-early": Case(file("a.heic", lambda: cut(encode(picture(), "HEIF"), 0.2)), "fail"),
    "heic-cut-middle": Case(file("b.heic", lambda: cut(encode(picture(), "HEIF"), 0.6)),
                            "fail"),
    "heic-cut-near-end": Case(file("c.heic", lambda: cut(encode(picture(), "HEIF"), 0.95)),
                              "fail"),
    "mp4-cut-10pc": Case(file("a.mp4", _cut_clip(0.1)), "fail", commands=("anonymize",)),
    "mp4-cut-50pc": Case(file("b.mp4", _cut_clip(0.5)), "fail", commands=("anonymize",)),
    "mp4-cut-95pc": Case(file("c.mp4", _cut_clip(0.95)), "fail", commands=("anonymize",)),
    "mp4-faststart-cut-in-frames": Case(video_file("d.mp4", _faststart_cut(".mp4", 0.7)),
                                        "fail", commands=("anonymize",)),
    "mov-cut-50pc": Case(file("a.mov", _cut_clip(0.5, ".mov")), "fail", commands=("anonymize",)),
    "mov-faststart-cut-in-frames": Case(video_file("b.mov", _faststart_cut(".mov", 0.85)),
                                        "fail", commands=("anonymize",)),
    # wrong extensions, both ways
    "png-named-jpg": Case(file("png.jpg", lambda: encode(picture(), "PNG")), "ok"),
    "jpeg-named-png": Case(file("jpeg.png", lambda: encode(picture(), "JPEG")), "ok"),
    "webp-named-gif": Case(file("webp.gif", lambda: encode(picture(), "WEBP")), "ok"),
    "mp4-named-jpg": Case(file("video.jpg", lambda: clip_bytes()), "fail"),
    "jpeg-named-mp4": Case(file("photo.mp4", lambda: encode(picture(), "JPEG")), "fail",
                           commands=("anonymize",)),
    "gif-named-mp4": Case(file("anim.mp4", lambda: gif_frames(3)), "fail",
                          commands=("anonymize",)),
    "text-named-mov": Case(file("notes.mov", b"meeting at noon, the usual place\n"), "fail",
                           commands=("anonymize",)),
    "mp4-named-mkv": Case(file("clip.mkv", lambda: clip_bytes()), "ok", commands=("anonymize",)),
    # decompression bombs: tiny files, gigapixel headers
    "png-bomb-1.6-gigapixel": Case(file("bomb.png", lambda: png_raw(40_000, 40_000, 8, 2,
                                                                    rows=b"\x00" * 64)), "fail"),
    "jpeg-bomb-4-gigapixel": Case(file("bomb.jpg", lambda: jpeg_claiming(65_000, 65_000)),
                                  "fail"),
    "gif-bomb-4-gigapixel": Case(file("bomb.gif", lambda: gif_claiming(65_535, 65_535)), "fail"),
    "tiff-bomb-10-gigapixel": Case(file("bomb.tif", lambda: tiff_claiming(100_000, 100_000)),
                                   "fail"),
    "webp-bomb-268-megapixel": Case(file("bomb.webp", lambda: webp_claiming(16_384, 16_384)),
                                    "fail"),
    # absurd dimensions
    "png-1x1": Case(file("dot.png", lambda: encode(picture(1, 1), "PNG")), "ok"),
    "jpeg-1x3000": Case(file("thin.jpg", lambda: encode(picture(1, 3000), "JPEG")), "ok"),
    "png-3000x1": Case(file("flat.png", lambda: encode(picture(3000, 1), "PNG")), "ok"),
    "png-zero-width": Case(file("zero.png", lambda: png_raw(0, 10, 8, 2, rows=b"")), "fail"),
    "over-max-pixels": Case(file("fine.png", lambda: encode(picture(), "PNG"), "--max-pixels",
                                 "1000"), "fail"),
    # colour modes and depths
    "cmyk-jpeg": Case(file("cmyk.jpg", _photo("JPEG", "CMYK")), "ok"),
    "cmyk-tiff": Case(file("cmyk.tif", _photo("TIFF", "CMYK")), "ok"),
    "grey-16bit-png": Case(file("g16.png", _grey16_png), "ok"),
    "rgb-16bit-png": Case(file("rgb16.png", lambda: png_raw(40, 30, 16, 2)), "ok"),
    "rgba-16bit-png": Case(file("rgba16.png", lambda: png_raw(40, 30, 16, 6)), "ok"),
    "grey-16bit-tiff": Case(file("g16.tif", lambda: encode(Image.open(io.BytesIO(
        _grey16_png())), "TIFF")), "ok"),
    "float-tiff": Case(file("float.tif", _float_tiff), "ok"),
    "palette-png": Case(file("pal.png", _photo("PNG", "P")), "ok"),
    "palette-transparent-png": Case(file("palt.png", _photo("PNG", "P", transparency=3)), "ok"),
    "one-bit-png": Case(file("bw.png", _photo("PNG", "1")), "ok"),
    "one-bit-tiff": Case(file("bw.tif", _photo("TIFF", "1", compression="group4")), "ok"),
    "grey-alpha-png": Case(file("la.png", _photo("PNG", "LA")), "ok"),
    "rgba-png": Case(file("rgba.png", _photo("PNG", "RGBA")), "ok"),
    "rgba-webp": Case(file("rgba.webp", _photo("WEBP", "RGBA", lossless=True)), "ok"),
    # animations
    "gif-200-frames": Case(file("many.gif", lambda: gif_frames(200)), "ok"),
    "webp-200-frames": Case(file("many.webp", lambda: webp_frames(200)), "ok"),
    "gif-over-max-frames": Case(file("many.gif", lambda: gif_frames(40), "--max-frames", "10"),
                                "fail", commands=("anonymize",)),
    "gif-2100-frames-over-default": Case(file("huge.gif", lambda: gif_frames(2100, (4, 4))),
                                         "fail", commands=("anonymize",)),
    # video
    "mp4-corrupt-middle-frame": Case(file("bad.mp4", lambda: corrupt_middle_packet(
        clip_bytes(frames=30), ".mp4")), "fail", commands=("anonymize",)),
    "avi-mjpeg-corrupt-middle-frame": Case(file("bad.avi", lambda: corrupt_middle_packet(
        clip_bytes(".avi", frames=30, codec="mjpeg"), ".avi")), "fail", commands=("anonymize",)),
    "mp4-audio-only": Case(video_file("sound.mp4", lambda p: clip(p, video=False, audio=True)),
                           "fail", commands=("anonymize",)),
    "mp4-data-stream-only": Case(video_file("gps.mp4", lambda p: clip(p, video=False,
                                                                       data_stream=True)),
                                 "fail", commands=("anonymize",)),
    "mp4-no-frames": Case(video_file("none.mp4", lambda p: clip(p, frames=0)), "fail",
                          commands=("anonymize",)),
    "video-over-max-pixels": Case(video_file("big.mp4", clip, "--max-pixels", "1000"), "fail",
                                  commands=("anonymize",)),
    "video-over-max-duration": Case(video_file("long.mp4", clip, "--max-duration", "0.5"),
                                    "fail", commands=("anonymize",)),
    "mp4-with-data-stream-and-sound": Case(video_file("gopro.mp4", lambda p: clip(
        p, audio=True, data_stream=True)), "ok", commands=("anonymize",)),
    # the file system
    "unreadable-photo": Case(_unreadable, "fail", process=True, as_user=True),
    "unreadable-video": Case(_unreadable_video, "fail", process=True, as_user=True,
                             commands=("anonymize",)),
    "read-only-output-folder": Case(_read_only_folder, "fail", process=True, as_user=True),
    "symlink-loop-to-itself": Case(_self_loop, "fail"),
    "symlink-to-a-device": Case(_link_to_device, "fail"),
    "fifo-named-jpg": Case(_fifo("pipe.jpg"), "fail", process=True),
    "fifo-named-mp4": Case(_fifo("pipe.mp4"), "fail", process=True, commands=("anonymize",)),
    "folder-tree-with-symlink-loops": Case(_symlink_loops, "ok"),
    "name-not-utf8": Case(_not_utf8, "ok", process=True),
    "output-name-too-long": Case(_long_output_name, "fail"),
    "path-over-path-max": Case(_path_too_long, "fail"),
    "output-folder-is-a-file": Case(_output_under_a_file, "fail"),
    "output-is-the-input": Case(_output_is_input, "fail"),
    "output-exists": Case(_output_exists, "fail"),
}


def _params() -> Iterator[object]:
    for name, case in CASES.items():
        for command in case.commands:
            yield pytest.param(name, command, id=f"{command}-{name}")


@pytest.fixture(scope="module")
def user_permissions() -> bool:
    return permissions_apply()


@pytest.mark.parametrize(("name", "command"), list(_params()))
def test_corpus(name: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                user_permissions: bool) -> None:
    case = CASES[name]
    if case.as_user and not user_permissions:
        pytest.skip("cannot run a process that obeys file permissions here (needs a non-root "
                    "user or CAP_SETPCAP to drop CAP_DAC_OVERRIDE)")
    work = tmp_path / "case"
    work.mkdir()
    if case.as_user:  # the folders above must be passable for a process without override
        for folder in (tmp_path, work):
            folder.chmod(0o755)
    args = case.build(work)
    if command == "clean":
        args = ["clean", *args]
    before = snapshot(work)

    run = (run_process(args, work, as_user=case.as_user, timeout=60) if case.process
           else run_here(args, work, capsys))

    with contextlib.suppress(OSError):  # let the snapshot read what was locked
        for path in work.rglob("*"):
            if not path.is_symlink() and not path.is_fifo():
                path.chmod(0o755 if path.is_dir() else 0o644)
    after = snapshot(work)
    assert "Traceback" not in run.out + run.err
    assert "internal error" not in run.err, run.err
    if case.expect == "fail":
        assert run.code != 0
        lines = run.err.splitlines()
        assert len(lines) == 1, run.err
        assert lines[0].startswith("blindspot: error: "), lines[0]
        names = [a[:60] for a in args if not a.startswith("-") and a != "clean"]
        assert any(n in lines[0] or os.fsencode(n).decode("utf-8", "backslashreplace")
                   in lines[0] for n in names), lines[0]  # the input (or output) concerned
        assert run.out == ""
        assert after == before  # no output, no temporary file, the input untouched
    else:
        assert run.code == 0, run.err
        assert [line for line in run.err.splitlines()
                if not line.endswith("files done, 0 failed")] == []
        assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
        new = [work / os.fsdecode(bytes.fromhex(k)) for k in after if k not in before]
        outputs = [p for p in new if p.is_file()]
        assert outputs, "no output written"
        assert not [p for p in outputs if p.name.startswith(".")], "temporary file left"
        for output in outputs:
            frames = decodes_completely(output)
            if output.suffix.lower() in VIDEO:
                source = work / args[0]
                assert frames == video_frames(source)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
    assert len(list(_params())) >= 100


def test_symlink_loops_are_walked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """Links that lead back up are not followed: each photo is done once, the walk ends."""
    args = _symlink_loops(tmp_path)
    run = run_here(args, tmp_path, capsys)
    assert run.code == 0, run.err
    outputs = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                     if p.is_file())
    assert outputs == ["b/q.png", "p.jpg"]


def test_unreadable_folder_in_a_walk_is_reported(tmp_path: Path, user_permissions: bool
                                                 ) -> None:
    """A folder the walk cannot enter is a failure with its own line, not silently missed
    files: the user must not believe the whole archive was anonymized."""
    if not user_permissions:
        pytest.skip("cannot run a process that obeys file permissions here")
    tmp_path.chmod(0o755)
    (tmp_path / "archive" / "locked").mkdir(parents=True)
    (tmp_path / "archive" / "fine.jpg").write_bytes(encode(picture(), "JPEG"))
    (tmp_path / "archive" / "locked" / "secret.jpg").write_bytes(encode(picture(), "JPEG"))
    (tmp_path / "archive" / "locked").chmod(0)
    try:
        run = run_process(["archive", "-o", "out", "--workers", "1"], tmp_path, as_user=True)
    finally:
        (tmp_path / "archive" / "locked").chmod(0o755)
    assert run.code == 1
    assert "Traceback" not in run.err
    problems = [line for line in run.err.splitlines() if line.startswith("blindspot: error:")]
    assert len(problems) == 1 and "locked" in problems[0] and "cannot read" in problems[0]
    assert (tmp_path / "out" / "fine.jpg").is_file()
    assert not (tmp_path / "out" / "locked").exists()


@contextlib.contextmanager
def rewriting(path: Path, versions: list[bytes]) -> Iterator[list[int]]:
    """While inside: `path` is rewritten over and over, in place, cycling through `versions`
    (each write truncates first: readers see short, mixed and whole files)."""
    stop, writes = threading.Event(), [0]

    def work() -> None:
        while not stop.is_set():
            blob = versions[writes[0] % len(versions)]
            with open(path, "r+b") as f:
                f.truncate(0)
                for start in range(0, len(blob), 4096):
                    f.write(blob[start:start + 4096])
                    f.flush()
            writes[0] += 1
            time.sleep(0.001)

    writer = threading.Thread(target=work, daemon=True)
    writer.start()
    try:
        yield writes
    finally:
        stop.set()
        writer.join()


@pytest.mark.parametrize("kind", ["png", "jpg", "mp4"])
def test_file_changing_while_read(tmp_path: Path, kind: str) -> None:
    """A file rewritten while blindspot reads it: an error line and no output, or a complete
    output; never a traceback, a half-written output or a temporary file left behind."""
    if kind == "mp4":
        versions = [clip_bytes(frames=12), clip_bytes(frames=20, size=(48, 32))]
    else:
        fmt = "PNG" if kind == "png" else "JPEG"
        versions = [encode(picture(320, 240), fmt), encode(picture(200, 300).rotate(90), fmt)]
    source = tmp_path / f"moving.{kind}"
    source.write_bytes(versions[0])
    outcomes = set()
    for attempt in range(2):
        output = tmp_path / f"out{attempt}.{kind}"
        with rewriting(source, versions) as writes:
            run = run_process([source.name, "-o", output.name], tmp_path)
        assert writes[0] > 1
        assert "Traceback" not in run.err and "internal error" not in run.err, run.err
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        if run.code == 0:
            assert decodes_completely(output) >= 1
            outcomes.add("done")
        else:
            assert len(run.err.splitlines()) == 1 and run.err.startswith("blindspot: error: ")
            assert not output.exists()
            outcomes.add("refused")
    assert outcomes


# --------------------------------------------------------------------------- fail closed


def _photo_file(folder: Path) -> Path:
    path = folder / "photo.png"
    picture(80, 60).save(path)
    return path


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_frame_that_cannot_be_covered_aborts_the_photo(tmp_path: Path, bad: float) -> None:
    """An error while covering a frame (a box that cannot be drawn) aborts the file: the
    error is raised and nothing is written."""
    source = _photo_file(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises((BlindspotError, ValueError, OverflowError)):
        anonymize_file(source, tmp_path / "out.png",
                       detections=[Detections([[10, 10, bad, 40]], [0.9])])
    assert snapshot(tmp_path) == before


def test_a_frame_that_cannot_be_covered_aborts_the_video(tmp_path: Path) -> None:
    """The same in the middle of a video: frames 0–5 are already encoded when frame 6 fails;
    the partial file is removed, nothing appears."""
    source = clip(tmp_path / "clip.mp4", frames=12)
    before = snapshot(tmp_path)
    boxes = [Detections() for _ in range(12)]
    boxes[6] = Detections([[10, 10, float("nan"), 30]], [0.9])
    with pytest.raises((BlindspotError, ValueError)):
        anonymize_file(source, tmp_path / "out.mp4", detections=boxes)
    assert snapshot(tmp_path) == before


def test_pillows_decompression_bomb_guard_is_on() -> None:
    import blindspot.run.pipeline  # noqa: F401 - everything blindspot imports, imported

    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= 200_000_000


def test_limits_are_options_with_clear_errors(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Each limit is a command-line option; a nonsense value is one line and exit 2."""
    picture().save(tmp_path / "c.png")
    for option, value in (("--max-pixels", "0"), ("--max-frames", "-1"),
                          ("--max-duration", "nan"), ("--max-duration", "-5"),
                          ("--max-pixels", "lots")):
        run = run_here(["c.png", option, value], tmp_path, capsys)
        assert run.code == 2, (option, value, run.err)
        assert len(run.err.splitlines()) == 1 and run.err.startswith("blindspot: error: ")
        assert option.lstrip("-").split("-")[1] in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]


# --------------------------------------------------------------------------- found by fuzzing
# One short test per crash that fuzz/fuzz.py found (see docs/fuzzing.md).


def gif_cut_in_second_frame() -> bytes:
    """A two-frame GIF that ends right after its second frame's image descriptor (and colour
    table): the byte that starts that frame's pixel data is missing."""
    blob = gif_frames(2)
    pos, images = 13 + (3 * (2 << (blob[10] & 7)) if blob[10] & 0x80 else 0), 0
    while True:
        if blob[pos] == 0x21:  # an extension: label, then sub-blocks
            pos += 2
        else:  # an image: descriptor, colour table, LZW code size, then sub-blocks
            assert blob[pos] == 0x2C
            packed = blob[pos + 9]
            pos += 10 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0)
            images += 1
            if images == 2:
                return blob[:pos]
            pos += 1
        while blob[pos]:
            pos += 1 + blob[pos]
        pos += 1


def test_fuzz_gif_ending_after_a_frame_is_a_clean_error(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """fuzz `source`: Pillow raises IndexError (not OSError) counting this GIF's frames; it
    was an internal error in `read_photo` and in `clean` (through `metadata.describe`)."""
    blob = gif_cut_in_second_frame()
    with Image.open(io.BytesIO(blob)) as image, pytest.raises(IndexError):
        image.n_frames  # noqa: B018 - the trap itself
    (tmp_path / "cut.gif").write_bytes(blob)
    for args in (["cut.gif"], ["clean", "cut.gif"]):
        run = run_here(args, tmp_path, capsys)
        assert run.code == 1 and "internal error" not in run.err
        assert run.err.startswith("blindspot: error: cut.gif: ") and run.err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.gif"]


def test_fuzz_gif_loop_extension_without_loop_count_still_decodes() -> None:
    """fuzz `gif`: a NETSCAPE2.0 extension whose sub-block is not a loop count was kept
    empty, and Pillow refuses to open a GIF with an empty NETSCAPE2.0 extension."""
    from blindspot.media.strip import strip_metadata

    blob = encode(picture(16, 12).convert("P"), "GIF", save_all=True,
                  append_images=[picture(16, 12).rotate(90).convert("P")], loop=0)
    at = blob.index(b"NETSCAPE2.0") + 11
    assert blob[at:at + 2] == b"\x03\x01"
    odd = blob[:at + 1] + b"\x28" + blob[at + 2:]  # sub-block id 0x28: not a loop count
    with Image.open(io.BytesIO(odd)) as image:
        image.load()
    stripped = strip_metadata(odd, "GIF")
    assert b"NETSCAPE2.0" not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.n_frames == 2
        image.seek(1)
        image.load()
    assert strip_metadata(stripped, "GIF") == stripped


def _icc_with_overlapping_tags() -> bytes:
    """An ICC profile whose 'rTRC' tag (typed mluc) overlaps a 'gTRC' tag (typed dict) that
    starts 4 bytes before it, as in the profile the fuzzer found."""
    size = 600
    header = bytearray(128)
    header[0:4] = struct.pack(">I", size)
    header[12:20] = b"mntrRGB "
    header[36:40] = b"acsp"
    table = struct.pack(">I", 2) + struct.pack(">4sII", b"rTRC", 524, 32) + struct.pack(
        ">4sII", b"gTRC", 520, 32)
    body = bytearray(size)
    body[:128] = header
    body[128:128 + len(table)] = table
    body[520:524] = b"dict"
    mluc = b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", 8, 28)
    body[524:524 + len(mluc)] = mluc
    body[552:556] = "Jo".encode("utf-16-be")
    return bytes(body)


def test_fuzz_icc_with_overlapping_tags_scrubs_to_itself() -> None:
    """fuzz `icc`: blanking one of two overlapping tags zeroed the other's counts, so the
    scrubbed profile no longer scrubbed (StripError on `clean` of a cleaned file)."""
    from blindspot.media.strip.icc import scrub_icc

    profile = _icc_with_overlapping_tags()
    once = scrub_icc(profile)
    assert scrub_icc(once) == once
    assert "Jo".encode("utf-16-be") not in once
