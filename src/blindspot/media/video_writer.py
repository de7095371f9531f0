"""Video out with PyAV: `transcode` decodes a video (as `video_reader` does, failing closed),
hands each frame to its caller and encodes the pixels it gets back.

Writing re-encodes the pixels that `transcode`'s caller returns and copies the audio packets
(`video_audio`); nothing else of the source reaches the output: no container or stream metadata
(dates, places, device make and model, software, handler names, titles, user data), no
chapters, attachments, data streams (GPS tracks, gpmd, timecode) or subtitles, and no display
matrix (the rotation is applied to the pixels). A stream whose pixels are not square (its sample
aspect ratio, as in anamorphic PAL and NTSC video) keeps that ratio (WebM: PyAV cannot tell its
muxer, so the pictures are widened to square pixels instead): the output is displayed as the
input is. The muxers run with `fflags=+bitexact`, so they add no `encoder=Lavf…` tag and no
creation time.
"""

from __future__ import annotations

import contextlib
import fractions
import functools
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import av
import av.bitstream
import numpy as np

from ..errors import BlindspotError
from . import memory
from .video_audio import AudioEditor, audio_out
from .video_frame import VideoFrame, _reformat
from .video_reader import _Decoder, _video_stream, opened, reason

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
# Audio packets held while the first video frame is decoded (the header needs its size).
_MAX_EARLY_AUDIO = 4096


def output_extension(input_suffix: str) -> str:
    """The extension of the output for an input with `input_suffix`: AVI becomes MP4."""
    suffix = input_suffix.lower()
    return ".mp4" if suffix == ".avi" else suffix


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
        self.audio_out = {s.index: audio_out(output, muxer, s, edit_audio) for s in audio}
        self.frames = 0
        self.widened = False  # pictures resized to square pixels (WebM, see `_video_stream`)

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
