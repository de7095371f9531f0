"""Video in with PyAV (FFmpeg's libraries, no external binary): opening, probing, decoding.

Reading decodes every frame of the first video stream into upright 8-bit RGB (`video_frame`)
and fails closed: a decoder error (decoders run with `err_detect=explode`), a damaged packet or
frame, a frame the decoder drops, or a file that ends before the frames (MP4, MOV, AVI) or the
duration (MKV, WebM) its header promises is a `BlindspotError`, never a silently skipped or
damaged frame. (H.264 and friends carry no checksums: bytes damaged in a way the decoder cannot
notice still decode, into damaged pixels, as they would in any player.) FFmpeg's log is left
off: PyAV's log callback deadlocks with frame-threaded decoders.
"""

from __future__ import annotations

import contextlib
import fractions
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import BlindspotError
from .video_frame import VideoFrame, _clockwise, _display_matrix, sample_aspect

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"})
# Demuxers that may open an input: fewer parsers, fewer ways in for a hostile file.
_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi")
_SUPPORTED = "not a supported video (MP4, MOV, MKV, WebM, AVI)"
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
