"""Video in and out with PyAV (FFmpeg's libraries, no external binary).

Reading decodes every frame of the first video stream into upright 8-bit RGB and fails closed:
a decoder error (decoders run with `err_detect=explode`), a damaged packet or frame, a frame the
decoder drops, or a file that ends before the frames (MP4, MOV, AVI) or the duration (MKV, WebM)
its header promises is a `BlindspotError`, never a silently skipped or damaged frame. (H.264 and
friends carry no checksums: bytes damaged in a way the decoder cannot notice still decode, into
damaged pixels, as they would in any player.) FFmpeg's log is left off: PyAV's log callback
deadlocks with frame-threaded decoders.

Writing re-encodes the pixels that `transcode`'s caller returns and copies the audio packets;
nothing else of the source reaches the output: no container or stream metadata (dates, places,
device make and model, software, handler names, titles, user data), no chapters, attachments,
data streams (GPS tracks, gpmd, timecode) or subtitles, and no display matrix (the rotation is
applied to the pixels). A stream whose pixels are not square (its sample aspect ratio, as in
anamorphic PAL and NTSC video) keeps that ratio (WebM: PyAV cannot tell its muxer, so the
pictures are widened to square pixels instead): the output is displayed as the input is. The
muxers run with `fflags=+bitexact`, so they add no `encoder=Lavf…` tag and no creation time.
"""

from __future__ import annotations

import contextlib
import fractions
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol

import av
import av.bitstream
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import BlindspotError
from . import memory

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"})

# Demuxers that may open an input: fewer parsers, fewer ways in for a hostile file.
_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi")
_SUPPORTED = "not a supported video (MP4, MOV, MKV, WebM, AVI)"
# Output extension → muxer.
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}

# Measured on a noisy 1280×720 clip, 2 CPU cores, CRF 20: libx264 `veryfast` 73 frames/s and
# 333 KiB, `faster` 49 frames/s and 362 KiB; veryfast is quicker and, here, no larger.
X264_PRESET = "veryfast"
# libvpx-vp9 in realtime mode, cpu-used 8, row threading: 100 frames/s on the same clip, as fast
# as SVT-AV1 preset 10 (108 frames/s), which plays in fewer places and prints to stderr.
VP9_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "b": "0"}
VP9_CRF_OFFSET = 12  # VP9's CRF scale (0–63) at the quality of x264's `crf` (0–51)
# x264 writes its version and every setting (thread count included) into an SEI message.
_X264_FILTER = "filter_units=remove_types=6"
# Audio codecs re-encoded when the output container cannot hold the source's codec.
_AUDIO_FALLBACK = {"webm": "libopus"}
# MP4's muxer accepts more (PCM, say) than it can always write or players play.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
_AUDIO_BITRATE = 160_000
_AUDIO_FRAME_SIZE = {"aac": 1024, "libopus": 960, "libmp3lame": 1152}
# Encoders of the decoders' codecs where FFmpeg names them otherwise (an edited sound keeps
# its codec).
_AUDIO_ENCODERS = {"opus": "libopus", "mp3": "libmp3lame", "vorbis": "libvorbis"}
# Audio packets held while the first video frame is decoded (the header needs its size).
_MAX_EARLY_AUDIO = 4096

# Container and stream tags that describe the file's structure, never a person or device.
_STRUCTURAL_TAGS = {
    "major_brand", "minor_version", "compatible_brands", "language", "duration", "rotate",
    "vendor_id", "timecode", "handler_name:videohandler", "handler_name:soundhandler",
}
_TAG_NAMES = {
    "creation_time": "creation_time", "date": "creation_time",
    "creationdate": "creation_time", "location": "location", "iso6709": "location",
    "location.iso6709": "location", "location-eng": "location", "make": "make",
    "model": "model", "software": "software", "encoder": "encoder",
    "handler_name": "handler names",
}

# AVColorSpace (what frames carry) → swscale's colour matrix names.
_MATRICES = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m",
             9: "bt2020", 10: "bt2020"}
_PQ, _HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67


def output_extension(input_suffix: str) -> str:
    """The extension of the output for an input with `input_suffix`: AVI becomes MP4."""
    suffix = input_suffix.lower()
    return ".mp4" if suffix == ".avi" else suffix


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` found: the first video stream, as displayed, and what is dropped."""

    width: int  # as displayed, after rotation
    height: int
    frames: int | None  # frame count if the container says, else None
    fps: float  # average frame rate
    duration: float  # seconds (0.0 if unknown)
    rotation: int  # degrees clockwise the decoder turns frames to make them upright
    aspect: fractions.Fraction  # a displayed pixel's width over its height, upright (1: square)
    codec: str
    pix_fmt: str
    bit_depth: int
    audio_streams: int
    dropped_streams: list[str]  # e.g. ["data (gpmd)", "subtitle (mov_text)"]
    metadata: list[str]  # human names of the identifying tags found


class VideoFrame:
    """One decoded frame, upright, in presentation order.

    `rgb` (H×W×3 uint8, upright) is converted from the decoded picture on first use only: the
    detection pass skips most frames, and their conversion would cost more than their decoding.
    `aspect` is the width of one of its pixels over its height as displayed: 1 (square) unless
    the stream says otherwise (`sample_aspect`).
    """

    __slots__ = ("index", "pts", "time_base", "aspect", "_picture", "_matrix", "_rgb")

    def __init__(self, index: int, pts: int | None, time_base: fractions.Fraction,
                 picture: av.VideoFrame | np.ndarray, matrix: np.ndarray | None = None,
                 aspect: fractions.Fraction = fractions.Fraction(1)) -> None:
        self.index = index  # 0-based decode order of video frames = presentation order
        self.pts = pts  # strictly increasing; synthesized where the file has none (AVI)
        self.time_base = time_base
        self.aspect = aspect
        self._picture: av.VideoFrame | None = None
        self._matrix = matrix
        self._rgb: np.ndarray | None = None
        if isinstance(picture, np.ndarray):
            self._rgb = picture
        else:
            self._picture = picture

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            assert self._picture is not None
            self._rgb = _upright(_rgb(self._picture), self._matrix)
            self._picture = None
        return self._rgb

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape `rgb` has (upright), without converting the picture."""
        if self._rgb is not None:
            return self._rgb.shape  # type: ignore[return-value]
        assert self._picture is not None
        h, w = self._picture.height, self._picture.width
        if self._matrix is not None and _clockwise(self._matrix) in (90, 270):
            h, w = w, h
        return h, w, 3


# ---------------------------------------------------------------------------- reading


@contextlib.contextmanager
def opened(path: Path, demuxers: tuple[str, ...] = _DEMUXERS, supported: str = _SUPPORTED
           ) -> Iterator[av.container.InputContainer]:
    """`path` opened with one of `demuxers` (say `supported` of any other file); every failure
    is a BlindspotError."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BlindspotError("no such file") from None
    except OSError as e:
        raise BlindspotError(f"cannot read: {e.strerror or e}") from None
    if path.is_dir():
        raise BlindspotError("is a folder")
    if not path.is_file():  # reading a pipe or a device could block forever
        raise BlindspotError("not a regular file (a pipe, device or socket): not read")
    if size == 0:
        raise BlindspotError("empty file")
    try:
        # An absolute path and FFmpeg's file protocol only: a name such as `http:x.mp4` or
        # `rtmp:host.mov` would otherwise be a URL, and FFmpeg would go on the network.
        # Tags that are not UTF-8 (a tagging app's Latin-1, say) are read with replacement
        # characters: strict decoding raised UnicodeDecodeError from a file's tags.
        container = av.open(os.path.abspath(path), "r",
                            container_options={"protocol_whitelist": "file"},
                            metadata_errors="replace")
    except PermissionError:
        raise BlindspotError("permission denied") from None
    except av.FFmpegError as e:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            raise BlindspotError("damaged or incomplete MP4/MOV (its index, the moov atom, "
                                 "is missing or unreadable)") from None
        raise BlindspotError(f"{supported}, or damaged: {reason(e)}") from None
    try:
        if container.format.name not in demuxers:
            raise BlindspotError(supported)
        yield container
    finally:
        container.close()


def reason(error: Exception) -> str:
    """A one-line reason from one of FFmpeg's errors."""
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        raise BlindspotError(f"no video stream ({', '.join(kinds)} streams only)")
    return container.streams.video[0]


def _configure_decoder(stream: av.video.stream.VideoStream, threads: int = 0) -> None:
    """Make the decoder report damage instead of concealing it; `threads` 0: one per core."""
    context = stream.codec_context
    context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
    context.thread_type = "AUTO"
    context.thread_count = threads


class _Decoder:
    """Decodes one video stream packet by packet, failing closed, into upright frames."""

    def __init__(self, stream: av.video.stream.VideoStream, threads: int = 0) -> None:
        _configure_decoder(stream, threads)
        self.stream = stream
        self.end = 0.0  # seconds: where the last packet of any stream ends
        self.packets = 0
        self.frames = 0
        self.last_pts: int | None = None
        self.step = _frame_step(stream)
        # The display matrix, read from the first frame only: it holds for the whole stream,
        # and in PyAV 18 reading a frame's `side_data` ties the frame into a reference cycle
        # (freed only by the cyclic garbage collector: memory would grow with the video).
        self.matrix: np.ndarray | None = None
        self.aspect = fractions.Fraction(1)  # of upright pixels, also from the first frame

    def feed(self, packet: av.Packet | None) -> Iterator[VideoFrame]:
        """The frames `packet` completes; None flushes the decoder."""
        if packet is not None:
            if packet.size == 0:
                return
            if packet.is_corrupt:
                raise BlindspotError(f"damaged data in video packet {self.packets + 1}")
            if not packet.is_discard:
                self.packets += 1
        try:
            decoded = self.stream.decode(packet)
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot decode video frame {self.frames + 1}: "
                                 f"{reason(e)}") from None
        for frame in decoded:
            if frame.is_corrupt:
                raise BlindspotError(f"video frame {self.frames + 1} is damaged")
            yield self._frame(frame)

    def seen(self, packet: av.Packet) -> None:
        """Note where a packet of any stream ends, to find files that end early."""
        start = packet.pts if packet.pts is not None else packet.dts
        if start is not None and packet.time_base:
            self.end = max(self.end, float((start + (packet.duration or 0)) * packet.time_base))

    def finish(self) -> None:
        """Refuse a stream whose frames did not all come out."""
        if self.frames == 0:
            raise BlindspotError("no video frames")
        if self.frames != self.packets:
            raise BlindspotError(f"{self.packets - self.frames} of {self.packets} video frames "
                                 "could not be decoded")
        container, expected = self.stream.container, self.stream.frames
        if container.format.name != "matroska,webm" and self.packets < expected:
            raise BlindspotError(f"file ends early: {self.packets} of {expected} video frames")
        declared = (container.duration or 0) / av.time_base
        if container.format.name == "matroska,webm" and self.end < declared - _slack(declared):
            raise BlindspotError(f"file ends early: at {self.end:.2f} s of {declared:.2f} s")

    def _frame(self, frame: av.VideoFrame) -> VideoFrame:
        if self.frames == 0:
            self.matrix = _display_matrix(frame)
            self.aspect = sample_aspect(self.stream, self.matrix)
        pts = self._pts(frame.pts)
        out = VideoFrame(self.frames, pts, fractions.Fraction(self.stream.time_base or 0), frame,
                         self.matrix, self.aspect)
        self.frames += 1
        return out

    def _pts(self, pts: int | None) -> int:
        """The frame's timestamp; AVI has none (its demuxer guesses them from the decode order,
        wrongly when there are B-frames), so there, and wherever a timestamp is missing or not
        after the previous one, it is one frame duration after the previous frame's."""
        step = self.step or 1
        if self.stream.container.format.name == "avi":
            pts = None
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + step
        self.last_pts = pts
        return pts


def _slack(seconds: float) -> float:
    """How far short of its declared duration a Matroska file's last packet may end."""
    return 0.25 + 0.01 * seconds


def _frame_step(stream: av.video.stream.VideoStream) -> int:
    """One frame's duration in the stream's time base, for streams without timestamps."""
    rate, base = stream.average_rate or stream.guessed_rate, stream.time_base
    if not rate or not base:
        return 0
    return max(1, round(1 / (rate * base)))


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """The frame as 8-bit RGB; PQ and HLG (HDR) pictures are tone-mapped to SDR."""
    matrix = _MATRICES.get(frame.colorspace)
    if matrix is None:  # unspecified: what players assume
        matrix = "itu709" if frame.height >= 720 else "itu601"
    full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
    options = {"src_colorspace": matrix, "src_color_range": "JPEG" if full else "MPEG",
               "dst_color_range": "JPEG"}
    if frame.format.name.startswith(("rgb", "bgr", "gbr", "gray")):
        options = {}
    if frame.color_trc in (_PQ, _HLG):
        rgb48 = _reformat(frame, format="rgb48le", **options).to_ndarray()
        return _tone_curve(frame.color_trc)[rgb48]
    return _reformat(frame, format="rgb24", **options).to_ndarray()


_REFORMATTERS = threading.local()


def _reformat(frame: av.VideoFrame, format: str, **options: str | int) -> av.VideoFrame:
    """`frame.reformat(format=format, **options)`, through one swscale context per thread and
    output format, kept from frame to frame, working in the calling thread. (`frame.reformat`
    sets up a new context for every frame, in PyAV 17 and later with a pool of slice threads:
    that cost more than the conversion itself.)"""
    reformatters = getattr(_REFORMATTERS, "by_format", None)
    if reformatters is None:
        reformatters = _REFORMATTERS.by_format = {}
    reformatter = reformatters.get(format)
    if reformatter is None:
        reformatter = reformatters[format] = VideoReformatter()
    options["format"] = format
    try:
        return reformatter.reformat(frame, threads=1, **options)
    except TypeError:  # PyAV before 17: no `threads` (and no slice threads)
        return reformatter.reformat(frame, **options)


@lru_cache(maxsize=2)
def _tone_curve(transfer: int) -> np.ndarray:
    """A 16-bit → 8-bit lookup table: HDR signal → light → SDR (BT.709 gamma).

    Light is tone-mapped per channel with an extended Reinhard curve (reference white 203
    cd/m², peak 1000 cd/m²); colours stay in the BT.2020 primaries, so they look a little
    less saturated than on an HDR display.
    """
    signal = np.arange(65536, dtype=np.float64) / 65535
    if transfer == _PQ:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = signal ** (1 / m2)
        nits = 10000 * (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1)
    else:  # HLG inverse OETF, then the reference OOTF (system gamma 1.2, 1000 cd/m²)
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = np.where(signal <= 0.5, signal**2 / 3, (np.exp((signal - c) / a) + b) / 12)
        nits = 1000 * scene**1.2
    x = nits / 203
    white = 1000 / 203
    y = np.clip(x * (1 + x / white**2) / (1 + x), 0, 1)
    return np.rint(255 * y ** (1 / 2.2)).astype(np.uint8)


def _display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    for data in frame.side_data:
        if data.type.name == "DISPLAYMATRIX":
            return np.frombuffer(bytes(data), dtype=np.int32)[:9]
    return None


def _clockwise(matrix: np.ndarray) -> int:
    """The clockwise rotation a display matrix asks for, in degrees (as FFmpeg reads it)."""
    scale0 = np.hypot(float(matrix[0]), float(matrix[3]))
    scale1 = np.hypot(float(matrix[1]), float(matrix[4]))
    if scale0 == 0 or scale1 == 0:
        return 0
    ccw = np.degrees(np.arctan2(matrix[1] / scale1, matrix[0] / scale0))
    return int(round(ccw)) % 360


# Pixels at most this many times wider than high, or higher than wide (anamorphic formats use
# 4:3 at most; a stream that says more is refused rather than stretched that much).
MAX_ASPECT = 4


def sample_aspect(stream: av.video.stream.VideoStream, matrix: np.ndarray | None
                  ) -> fractions.Fraction:
    """A displayed pixel's width over its height in `stream`'s frames turned upright by
    `matrix`: the sample aspect ratio the container or, failing that, the codec says (as FFmpeg
    guesses it); 1 (square) where neither says."""
    sar = stream.sample_aspect_ratio
    if not sar or sar <= 0:
        return fractions.Fraction(1)
    if not 1 / MAX_ASPECT <= sar <= MAX_ASPECT:
        raise BlindspotError(f"unsupported pixel aspect ratio {sar} (pixels more than "
                             f"{MAX_ASPECT} times wider than high or higher than wide)")
    if matrix is not None and _clockwise(matrix) in (90, 270):
        sar = 1 / sar
    return fractions.Fraction(sar)


def _upright(rgb: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """Apply a display matrix the way FFmpeg's `ffmpeg -autorotate` does."""
    if matrix is None:
        return rgb
    theta = _clockwise(matrix)
    if theta == 90:
        rgb = rgb.transpose(1, 0, 2) if matrix[3] > 0 else np.rot90(rgb, -1)
    elif theta == 180:
        rgb = rgb[:, ::-1] if matrix[0] < 0 else rgb
        rgb = rgb[::-1] if matrix[4] < 0 else rgb
    elif theta == 270:
        rgb = np.rot90(rgb, -1)[::-1] if matrix[3] < 0 else np.rot90(rgb, 1)
    elif theta == 0:
        rgb = rgb[::-1] if matrix[4] < 0 else rgb
    else:
        raise BlindspotError(f"unsupported rotation of {theta}° (only multiples of 90°)")
    return np.ascontiguousarray(rgb)


def read_frames(path: Path, threads: int = 0) -> Iterator[VideoFrame]:
    """Every frame of the first video stream of `path`, upright, in presentation order, decoded
    with `threads` threads (0: one per core).

    Raises BlindspotError on any decode error, damaged data, dropped frame or file that ends
    early, and when there are no frames at all.
    """
    with opened(path) as container:
        decoder = _Decoder(_video_stream(container), threads)
        try:
            for packet in container.demux():
                decoder.seen(packet)
                if packet.stream.index == decoder.stream.index:
                    yield from decoder.feed(packet)
            yield from decoder.feed(None)
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot read video: {reason(e)}") from None
        decoder.finish()


def probe_video(path: Path, max_pixels: int, max_duration: float) -> VideoInfo:
    """What `path` holds; refuses non-videos and videos over the size or duration limits."""
    with opened(path) as container:
        stream = _video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise BlindspotError(f"video frame too large: {width}×{height} px is over the limit "
                                 f"of {max_pixels:,} px")
        duration = stream_seconds(container, stream)
        if duration > max_duration:
            raise BlindspotError(f"video too long: {duration:.0f} s is over the limit of "
                                 f"{max_duration:.0f} s")
        decoder = _Decoder(stream)
        frame = _first_frame(container, decoder)
        if frame is None:
            raise BlindspotError("no video frames")
        matrix = _display_matrix(frame)
        rotation = _clockwise(matrix) if matrix is not None else 0
        if rotation in (90, 270):
            width, height = height, width
        pix_fmt = frame.format.name
        return VideoInfo(
            width=width, height=height, frames=stream.frames or None,
            fps=float(stream.average_rate or stream.guessed_rate or 0), duration=duration,
            rotation=rotation, aspect=sample_aspect(stream, matrix),
            codec=stream.codec_context.name, pix_fmt=pix_fmt,
            bit_depth=max(c.bits for c in frame.format.components),
            audio_streams=len(container.streams.audio),
            dropped_streams=_dropped_streams(container, stream),
            metadata=identifying_metadata(container),
        )


def _first_frame(container: av.container.InputContainer, decoder: _Decoder
                 ) -> av.VideoFrame | None:
    try:
        for packet in container.demux(decoder.stream):
            if packet.size == 0:
                continue
            for frame in decoder.stream.decode(packet):
                return frame
        for frame in decoder.stream.decode(None):
            return frame
    except av.FFmpegError as e:
        raise BlindspotError(f"cannot decode video: {reason(e)}") from None
    return None


def stream_seconds(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """How long `stream` says it is, else the container (0: neither says)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else 0.0


def _dropped_streams(container: av.container.InputContainer,
                     video: av.video.stream.VideoStream) -> list[str]:
    dropped = []
    for stream in container.streams:
        if stream is video or stream.type == "audio":
            continue
        context = getattr(stream, "codec_context", None)
        # (PyAV 18's data streams have neither a codec context nor a codec_tag)
        name = ((context.name if context is not None else None)
                or getattr(stream, "codec_tag", None) or "?")
        dropped.append(f"{stream.type} ({name})")
    return dropped


def identifying_metadata(container: av.container.Container) -> list[str]:
    """Human names of the tags in `container` and its streams that are not structural."""
    found: list[str] = []
    tags = [dict(container.metadata)] + [dict(s.metadata) for s in container.streams]
    for key, value in (item for t in tags for item in t.items()):
        key = key.lower()
        key = key.removeprefix("com.apple.quicktime.").removeprefix("com.android.")
        if key in _STRUCTURAL_TAGS or f"{key}:{str(value).lower()}" in _STRUCTURAL_TAGS:
            continue
        if key.startswith("_statistics") or key in ("number_of_frames", "number_of_bytes", "bps"):
            continue
        name = _TAG_NAMES.get(key, key.split("-")[0])
        if name not in found:
            found.append(name)
    if getattr(container, "chapters", None) and container.chapters():
        found.append("chapters")
    return found


# ---------------------------------------------------------------------------- writing


class AudioEditor(Protocol):
    """Edits the samples of one audio stream in order (see `audio.edit.SpanEditor`)."""

    def push(self, samples: np.ndarray, start: int) -> list[tuple[np.ndarray, int]]: ...

    def finish(self) -> list[tuple[np.ndarray, int]]: ...


def transcode(path: Path, out: BinaryIO, out_suffix: str,
              process: Callable[[VideoFrame], np.ndarray], crf: int = 20,
              keep_audio: bool = True, threads: int = 0,
              edit_audio: Callable[[int], AudioEditor] | None = None) -> int:
    """Write `path` into `out` with each video frame replaced by `process(frame)`.

    `path` is demuxed once: each video frame is decoded (as `read_frames` does, failing
    closed), passed to `process`, which returns an upright H×W×3 uint8 array of the same shape,
    and encoded with the same timestamp, so frame N of the output is frame N of the input,
    variable frame rate included. Output, 8-bit yuv420p BT.709 whatever the input:
    MP4, MOV, MKV: H.264 (libx264, `X264_PRESET`, `crf`; an odd width or height gains one
    edge-replicated row or column); WebM: VP9 (libvpx-vp9, `VP9_OPTIONS`, CRF `crf` +
    `VP9_CRF_OFFSET`); AVI: MP4 with H.264. Audio packets are copied as they are; only when
    the output container cannot hold the codec (say PCM from an AVI, in an MP4) is the audio
    re-encoded, to AAC (Opus in WebM). `keep_audio=False` writes no audio stream.
    `edit_audio(sample_rate)`, when given, makes the editor of the first audio stream (see
    `audio.edit.SpanEditor`): its samples are decoded, edited and encoded again with the same
    codec where the container and encoders allow (else AAC, Opus in WebM), same rate and
    channels, sample for sample (the timing does not move); other audio streams are dropped.
    Returns the number of frames written.
    """
    suffix = output_extension(out_suffix)
    if suffix not in _MUXERS:
        raise BlindspotError(f"cannot write {out_suffix or 'extensionless'} videos")
    muxer = _MUXERS[suffix]
    with opened(path) as source:
        video = _video_stream(source)
        audio = list(source.streams.audio) if keep_audio else []
        if edit_audio is not None:
            audio = audio[:1]
        try:
            output = av.open(out, "w", format=muxer, container_options={"fflags": "+bitexact"})
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot write video: {reason(e)}") from None
        try:
            writer = _Writer(output, muxer, video, audio, crf, threads, edit_audio)
            decoder = _Decoder(video, threads)
            # Converting and encoding each picture runs in a thread of its own, while the next
            # frame is decoded and processed (both release the GIL).
            with _InOrder(WRITE_AHEAD) as later:
                for packet in source.demux():
                    decoder.seen(packet)
                    if packet.stream.index == video.index:
                        for frame in decoder.feed(packet):
                            later(writer.video, frame, _checked(process(frame), frame))
                            if frame.index % TRIM_EVERY == TRIM_EVERY - 1:
                                memory.trim()
                    elif packet.stream.index in writer.audio_out:
                        later(writer.audio, packet)
                for frame in decoder.feed(None):
                    later(writer.video, frame, _checked(process(frame), frame))
                decoder.finish()
                later(writer.finish)
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot transcode video: {reason(e)}") from None
        except OSError as e:  # writing `out` failed (disk full, say)
            raise BlindspotError(f"cannot write video: {e.strerror or e}") from None
        finally:
            with contextlib.suppress(av.FFmpegError, ValueError):
                output.close()
        return decoder.frames


# Pictures processed and waiting to be encoded, at most.
WRITE_AHEAD = 4
# Freed memory is handed back to the system after every this many frames (`memory.trim`).
TRIM_EVERY = 64


class _InOrder:
    """`later(fn, *args)` calls `fn(*args)` in a thread of its own, in the order given; at most
    `depth` calls wait. The first error a call raises is raised again by the next `later`, or
    on leaving the `with` block, and the calls after it are skipped. Leaving the block waits
    for the calls given; left by an error, only for the one running."""

    def __init__(self, depth: int) -> None:
        self._calls: queue.Queue[Callable[[], object] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._skip = False
        self._thread = threading.Thread(target=self._run, name="blindspot-write", daemon=True)

    def __enter__(self) -> _InOrder:
        self._thread.start()
        return self

    def __call__(self, fn: Callable[..., object], *args: object) -> None:
        self._raise()
        self._calls.put(functools.partial(fn, *args))

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._skip = kind is not None
        self._calls.put(None)
        self._thread.join()
        if kind is None:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            if self._error is None and not self._skip:
                try:
                    call()
                except BaseException as e:  # noqa: BLE001 - raised again in the caller
                    self._error = e


def _checked(rgb: np.ndarray, frame: VideoFrame) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.shape != frame.shape or rgb.dtype != np.uint8:
        raise ValueError(f"process() must return a {frame.shape} uint8 array, "
                         f"got {rgb.dtype} {rgb.shape}")
    return rgb


class _Writer:
    """The output container: one re-encoded video stream and the copied audio streams."""

    def __init__(self, output: av.container.OutputContainer, muxer: str,
                 video: av.video.stream.VideoStream, audio: list[av.audio.stream.AudioStream],
                 crf: int, threads: int = 0,
                 edit_audio: Callable[[int], AudioEditor] | None = None) -> None:
        self.output, self.muxer, self.source, self.crf = output, muxer, video, crf
        self.threads = threads  # the encoder's; 0: its default (one per core, or so)
        self.stream: av.video.stream.VideoStream | None = None
        self.sei_filter: av.bitstream.BitStreamFilterContext | None = None
        self.early: list[av.Packet] = []  # audio demuxed before the video stream exists
        self.edit_audio = edit_audio
        self.audio_out = {s.index: self._audio_stream(s) for s in audio}
        self.frames = 0
        self.widened = False  # pictures resized to square pixels (WebM, see `_video_stream`)

    def _audio_stream(self, source: av.audio.stream.AudioStream) -> AudioOut:
        if self.edit_audio is not None:
            rate = source.codec_context.sample_rate or 48000
            return AudioOut(source, self._same_codec(source), editor=self.edit_audio(rate))
        if self.muxer == "mp4" and source.codec_context.name not in _MP4_AUDIO:
            return AudioOut(source, self._audio_encoder(source))
        try:
            stream = self.output.add_stream_from_template(source)
        except ValueError:  # the container cannot hold this codec
            return AudioOut(source, self._audio_encoder(source))
        stream.metadata.clear()
        return AudioOut(source, stream, copy=True)

    def _same_codec(self, source: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
        """An encoder of the source's codec, rate and channels, when this container and
        FFmpeg's encoders allow; else `_audio_encoder`'s."""
        context = source.codec_context
        name = _AUDIO_ENCODERS.get(context.name, context.name)
        if self.muxer == "mp4" and context.name not in _MP4_AUDIO:
            return self._audio_encoder(source)
        try:
            stream = self.output.add_stream(name, rate=context.sample_rate)
        except (ValueError, av.FFmpegError):
            return self._audio_encoder(source)
        stream.layout = context.layout.name
        stream.bit_rate = context.bit_rate or _AUDIO_BITRATE
        return stream

    def _audio_encoder(self, source: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
        name = _AUDIO_FALLBACK.get(self.muxer, "aac")
        rate = source.codec_context.sample_rate or 48000
        if name == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        stream = self.output.add_stream(name, rate=rate)
        channels = source.codec_context.layout.nb_channels
        stream.layout = "mono" if channels == 1 else "stereo"
        stream.bit_rate = _AUDIO_BITRATE
        return stream

    def _video_stream(self, rgb: np.ndarray, aspect: fractions.Fraction
                      ) -> av.video.stream.VideoStream:
        rate = self.source.average_rate or self.source.guessed_rate or fractions.Fraction(30)
        height, width = rgb.shape[:2]
        if self.muxer == "webm":
            crf = min(63, self.crf + VP9_CRF_OFFSET)
            options = {**VP9_OPTIONS, "crf": str(crf)}
            if self.threads:
                options["threads"] = str(self.threads)
            stream = self.output.add_stream("libvpx-vp9", rate=rate, options=options)
            if aspect != 1:
                # Matroska takes a stream's aspect ratio from where PyAV cannot set it: the
                # pictures are made square-pixelled instead (the narrower side stretched).
                width, height = (round(width * aspect), height) if aspect > 1 else \
                    (width, round(height / aspect))
                self.widened, aspect = True, fractions.Fraction(1)
        else:
            options = {"preset": X264_PRESET, "crf": str(self.crf)}
            if self.threads:
                options["threads"] = str(self.threads)
            stream = self.output.add_stream("libx264", rate=rate, options=options)
            height, width = height + height % 2, width + width % 2
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = self.source.time_base or 1 / rate
        context = stream.codec_context
        context.time_base = stream.time_base
        context.colorspace, context.color_primaries, context.color_trc = 1, 1, 1  # BT.709
        context.color_range = 1  # limited ("TV") range
        if aspect != 1:
            context.sample_aspect_ratio = aspect  # H.264 says it in the stream, MP4 in `pasp`
        stream.metadata.clear()
        return stream

    def video(self, frame: VideoFrame, rgb: np.ndarray) -> None:
        stream = self._stream_for(rgb, frame.aspect)
        self._mux_video(stream.encode(self._picture(frame, rgb)))
        self.frames += 1

    def _stream_for(self, rgb: np.ndarray, aspect: fractions.Fraction
                    ) -> av.video.stream.VideoStream:
        """The output's video stream, made for the first picture `rgb` (pixels `aspect`)."""
        if self.stream is None:
            self.stream = self._video_stream(rgb, aspect)
            for packet in self.early:
                self._mux(packet)
            self.early = []
        return self.stream

    def _picture(self, frame: VideoFrame, rgb: np.ndarray) -> av.VideoFrame:
        """`rgb` as the encoder takes it: yuv420p (BT.709, limited range) at `frame`'s time."""
        height, width = self.stream.height, self.stream.width
        if rgb.shape[:2] != (height, width) and not self.widened:
            rgb = np.pad(rgb, ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0)),
                         mode="edge")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        size = {"width": width, "height": height, "interpolation": "BICUBIC"} \
            if self.widened else {}
        picture = _reformat(picture, format="yuv420p", dst_colorspace="itu709",
                            dst_color_range="MPEG", **size)
        picture.pts = frame.pts
        picture.time_base = self.stream.codec_context.time_base
        return picture

    def _mux_video(self, packets: list[av.Packet], flush: bool = False) -> None:
        """Mux encoded video, without x264's SEI messages."""
        if self.muxer == "webm":
            self._mux_all(packets)
            return
        if self.sei_filter is None:
            self.sei_filter = av.bitstream.BitStreamFilterContext(_X264_FILTER, self.stream)
        for packet in [*packets, None] if flush else packets:
            for filtered in self.sei_filter.filter(packet):
                filtered.stream = self.stream
                filtered.time_base = self.stream.codec_context.time_base  # as encoded
                self.output.mux(filtered)

    def audio(self, packet: av.Packet) -> None:
        if packet.size == 0 and packet.dts is None:
            return
        if self.stream is None:
            if len(self.early) >= _MAX_EARLY_AUDIO:
                raise BlindspotError("no video frame among the first audio packets")
            self.early.append(packet)
            return
        self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        out = self.audio_out[packet.stream.index]
        if out.copy:
            if packet.dts is None:
                return
            packet.stream = out.stream
            self.output.mux(packet)
            return
        for frame in packet.decode():
            for edited in out.edited(frame):
                for resampled in out.resample(edited):
                    self._mux_all(out.stream.encode(resampled))

    def _mux_all(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.output.mux(packet)

    def finish(self) -> None:
        if self.stream is None:
            raise BlindspotError("no video frames")
        self._mux_video(self.stream.encode(None), flush=True)
        for out in self.audio_out.values():
            if not out.copy:
                for frame in out.source.decode(None):
                    for edited in out.edited(frame):
                        for resampled in out.resample(edited):
                            self._mux_all(out.stream.encode(resampled))
                for edited in out.edited(None):
                    for resampled in out.resample(edited):
                        self._mux_all(out.stream.encode(resampled))
                for resampled in out.resample(None):
                    self._mux_all(out.stream.encode(resampled))
                self._mux_all(out.stream.encode(None))
        self.output.close()


class AudioOut:
    """Where one source audio stream goes: copied packets, or a re-encoding encoder."""

    def __init__(self, source: av.audio.stream.AudioStream, stream: av.audio.stream.AudioStream,
                 copy: bool = False, editor: AudioEditor | None = None) -> None:
        self.source, self.stream, self.copy, self.editor = source, stream, copy, editor
        self.resampler: av.AudioResampler | None = None
        self.samples = 0  # the sample clock of the re-encoded audio
        self.planar: av.AudioResampler | None = None  # decoded → float planar, for the editor
        self.layout = ""
        self.rate = 0
        self.decoded = 0  # samples given to the editor so far

    def edited(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        """`frame` (None: the end) through the editor, if there is one: the frames that are
        ready, float planar at the source's rate and layout."""
        if self.editor is None:
            return [] if frame is None else [frame]
        ready: list[tuple[np.ndarray, int]] = []
        if frame is None:
            ready += self.editor.finish()
        else:
            if self.planar is None:
                self.layout, self.rate = frame.layout.name, frame.sample_rate
                self.planar = av.AudioResampler(format="fltp", layout=self.layout,
                                                rate=self.rate)
            if (frame.layout.name, frame.sample_rate) != (self.layout, self.rate):
                raise BlindspotError("the sound's rate or channels change mid-stream")
            frame.pts = None
            for planar in self.planar.resample(frame):
                samples = planar.to_ndarray().astype(np.float32)
                ready += self.editor.push(samples, self.decoded)
                self.decoded += samples.shape[-1]
        frames = []
        for samples, _ in ready:
            edited = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.clip(-1, 1)),
                                                format="fltp", layout=self.layout)
            edited.sample_rate = self.rate
            frames.append(edited)
        return frames

    def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        if self.resampler is None:
            context = self.stream.codec_context
            self.resampler = av.AudioResampler(format=context.format.name,
                                               layout=context.layout.name,
                                               rate=context.sample_rate,
                                               frame_size=_AUDIO_FRAME_SIZE.get(context.name,
                                                                                context.frame_size
                                                                                or None))
        if frame is not None:
            frame.pts = None
        frames = self.resampler.resample(frame)
        for resampled in frames:
            resampled.pts = self.samples
            resampled.time_base = fractions.Fraction(1, resampled.sample_rate)
            self.samples += resampled.samples
        return frames
