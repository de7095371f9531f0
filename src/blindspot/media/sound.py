"""Sound files in and out with PyAV: WAV, FLAC, MP3, M4A/AAC, Ogg (Vorbis, Opus, FLAC).

Reading decodes the first audio stream (`read_audio` also reads a video's soundtrack) and fails
closed: a decoder error (decoders run with `err_detect=explode`), a damaged packet or a file
with no sound at all is a `BlindspotError`. A file whose first stream is a real video (a video
renamed `.mp3`) is refused: it must be anonymized as a video, or its pictures would pass
untouched. Embedded pictures (cover art) are not read.

Writing (`transcode_sound`) decodes every sample, runs it through the caller's editor (mute,
disguise) and encodes fresh samples at the same rate and channel layout: nothing else of the
source reaches the output: no ID3 frames, Vorbis comments, iTunes or QuickTime atoms (`©xyz`
location, artist, comment, encoder, device), no cover art, chapters or other streams. The
output's extension picks the container and codec: the source's codec where the container holds
it (MP3 stays MP3, AAC stays AAC, Opus stays Opus), else the container's own (`-o x.flac` or
`x.wav`: lossless, on request). The muxers and encoders run bit-exact, so they write no
`Lavf…`/`Lavc…` version either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from ..errors import BlindspotError
from ..progress import advance
from .video_audio import AudioEditor, AudioOut
from .video_reader import identifying_metadata, opened, reason, stream_seconds

SOUND_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus"})
SUPPORTED = "not a supported sound file (WAV, FLAC, MP3, M4A/AAC, Ogg Vorbis/Opus/FLAC)"

# Demuxers that may open a sound file (the MP4 family for M4A).
_DEMUXERS = ("wav", "flac", "mp3", "ogg", "aac", "mov,mp4,m4a,3gp,3g2,mj2")
# Output extension → muxer, and the codecs it may hold (the first: when the source's is not
# among them).
_OUTPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    ".wav": ("wav", ("pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8")),
    ".flac": ("flac", ("flac",)),
    ".mp3": ("mp3", ("mp3",)),
    ".m4a": ("ipod", ("aac", "alac")),
    ".aac": ("adts", ("aac",)),
    # FFmpeg's own Vorbis encoder is experimental and writes stereo only: Vorbis becomes FLAC.
    ".ogg": ("ogg", ("flac", "opus")),
    ".oga": ("ogg", ("flac", "opus")),
    ".opus": ("opus", ("opus",)),
}
# FFmpeg's encoders of the decoders' codecs, where they are named otherwise.
_ENCODERS = {"mp3": "libmp3lame", "opus": "libopus"}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_LOSSY_BITRATE = 128_000  # when the source does not say its own


@dataclass(frozen=True)
class SoundInfo:
    """What a sound file holds."""

    codec: str
    rate: int
    channels: int
    duration: float  # seconds (as the container says; 0: unknown)
    metadata: list[str]  # identifying tags found (names), removed by writing
    dropped_streams: list[str]  # streams not carried over (cover art, a second sound)


def is_sound(path: Path) -> bool:
    """Whether blindspot treats `path` as a sound file (by its extension)."""
    return path.suffix.lower() in SOUND_EXTENSIONS


def _sound_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            raise BlindspotError("holds a video stream: not a sound file (anonymize it as a "
                                 "video, with a video extension such as .mp4)")
    if not container.streams.audio:
        raise BlindspotError("no sound in it")
    return _decodable(container.streams.audio[0])


def _decodable(stream: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
    """`stream`, its decoder set to report damage instead of concealing it."""
    context = stream.codec_context
    if context is None:
        raise BlindspotError("no decoder for this sound's codec")
    if not context.sample_rate or not context.channels:
        raise BlindspotError("damaged sound: no sample rate or channels")
    context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
    return stream


def probe_sound(path: Path, max_duration: float) -> SoundInfo:
    """What the sound file at `path` holds; refuses other files and sounds over `max_duration`
    seconds."""
    with opened(path, _DEMUXERS, SUPPORTED) as container:
        stream = _sound_stream(container)
        duration = stream_seconds(container, stream)
        if duration > max_duration:
            raise BlindspotError(f"sound too long: {duration:.0f} s is over the limit of "
                                 f"{max_duration:.0f} s")
        context = stream.codec_context
        dropped = [("cover art" if s.type == "video" else f"{s.type} ({s.codec_context.name})"
                    if getattr(s, "codec_context", None) is not None else s.type)
                   for s in container.streams if s is not stream]
        return SoundInfo(codec=context.name, rate=context.sample_rate,
                         channels=context.channels, duration=duration,
                         metadata=identifying_metadata(container), dropped_streams=dropped)


def _decoded(container: av.container.InputContainer, stream: av.audio.stream.AudioStream
             ) -> Iterator[av.AudioFrame]:
    """Every frame of `stream`, failing closed on damage and on a change of rate, channels or
    sample format mid-stream (damage, or a file made of pieces: never edited in a guess)."""
    first: tuple[str, str, int] | None = None

    def checked(frames: list[av.AudioFrame]) -> Iterator[av.AudioFrame]:
        nonlocal first
        for frame in frames:
            if frame.is_corrupt:
                raise BlindspotError("damaged sound frame")
            shape = (frame.format.name, frame.layout.name, frame.sample_rate)
            if first is None:
                first = shape
            elif shape != first:
                raise BlindspotError("the sound's rate, channels or sample format change "
                                     "mid-stream (damaged?)")
            yield frame

    try:
        for packet in container.demux(stream):
            if packet.size == 0 and packet.dts is None:
                continue
            if packet.is_corrupt:
                raise BlindspotError("damaged data in the sound")
            yield from checked(packet.decode())
        yield from checked(stream.decode(None))
    except av.FFmpegError as e:
        raise BlindspotError(f"cannot read the sound: {reason(e)}") from None


def read_audio(path: Path, rate: int) -> Iterator[np.ndarray]:
    """The first audio stream of the video or sound file `path` (a video with none: nothing),
    decoded, mixed to mono and resampled to `rate` Hz: float32 chunks in order. Video packets
    are skipped, not decoded."""
    sound = is_sound(Path(path))
    with opened(path, _DEMUXERS, SUPPORTED) if sound else opened(path) as container:
        if not container.streams.audio:
            return
        stream = _sound_stream(container) if sound else _decodable(container.streams.audio[0])
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in _decoded(container, stream):
                frame.pts = None
                for mono in resampler.resample(frame):
                    yield mono.to_ndarray().reshape(-1).astype(np.float32)
            for mono in resampler.resample(None):
                yield mono.to_ndarray().reshape(-1).astype(np.float32)
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot read the sound: {reason(e)}") from None


def output_codec(out_suffix: str, source_codec: str) -> tuple[str, str]:
    """(muxer, encoder) of an output named `*out_suffix` of a sound in `source_codec`."""
    suffix = out_suffix.lower()
    if suffix not in _OUTPUTS:
        raise BlindspotError(f"cannot write {out_suffix or 'extensionless'} sound files "
                             f"(write {', '.join(sorted(_OUTPUTS))})")
    muxer, codecs = _OUTPUTS[suffix]
    codec = source_codec if source_codec in codecs else codecs[0]
    if suffix == ".wav" and not source_codec.startswith("pcm_"):
        codec = "pcm_s16le"
    return muxer, _ENCODERS.get(codec, codec)


def transcode_sound(path: Path, out: BinaryIO, out_suffix: str,
                    edit_audio: Callable[[int], AudioEditor] | None = None) -> float:
    """Write the sound file `path` into `out` (a sound file named `*out_suffix`), every sample
    decoded, edited by `edit_audio(sample_rate)`'s editor (None: as it is) and encoded anew.
    Returns the seconds of sound written."""
    with opened(path, _DEMUXERS, SUPPORTED) as source:
        stream = _sound_stream(source)
        context = stream.codec_context
        muxer, encoder = output_codec(out_suffix, context.name)
        try:
            output = av.open(out, "w", format=muxer, container_options={"fflags": "+bitexact"})
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot write sound: {reason(e)}") from None
        try:
            target = _encoder(output, encoder, context)
            editor = edit_audio(context.sample_rate) if edit_audio is not None else None
            sink = AudioOut(stream, target, editor=editor)
            for frame in _decoded(source, stream):
                for edited in sink.edited(frame):
                    _encode(output, sink, edited)
                advance(frame.samples / (frame.sample_rate or context.sample_rate))
            for edited in sink.edited(None):
                _encode(output, sink, edited)
            _encode(output, sink, None)
            _check_length(source, stream, sink.samples / context.sample_rate)
            output.mux(target.encode(None))
            output.close()
        except av.FFmpegError as e:
            raise BlindspotError(f"cannot write sound: {reason(e)}") from None
        except OSError as e:  # writing `out` failed (disk full, say)
            raise BlindspotError(f"cannot write sound: {e.strerror or e}") from None
        finally:
            try:
                output.close()
            except (av.FFmpegError, ValueError, OSError):
                pass
        return sink.samples / target.codec_context.sample_rate


def _check_length(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                  seconds: float) -> None:
    """Refuse a sound that decoded to nothing, or to less than its header promises (but MP3's,
    estimated from its bit rate)."""
    if seconds <= 0:
        raise BlindspotError("no sound could be decoded")
    if container.format.name == "mp3":
        return
    declared = stream_seconds(container, stream)
    if seconds < declared - (0.25 + 0.01 * declared):
        raise BlindspotError(f"file ends early: at {seconds:.2f} s of {declared:.2f} s")


def _encoder(output: av.container.OutputContainer, name: str,
             source: av.audio.codeccontext.AudioCodecContext) -> av.audio.stream.AudioStream:
    rate = source.sample_rate
    if name == "libopus" and rate not in _OPUS_RATES:
        raise BlindspotError(f"cannot write Opus at {rate} Hz: write .flac or .wav instead")
    channels = source.channels
    layout = source.layout.name if channels > 2 else "mono" if channels == 1 else "stereo"
    try:
        stream = output.add_stream(name, rate=rate)
    except (ValueError, av.FFmpegError) as e:
        raise BlindspotError(f"cannot write this sound: {reason(e)}") from None
    stream.layout = layout
    target = stream.codec_context
    if name.startswith("pcm_") or name in ("flac", "alac"):
        if name in ("flac", "alac"):
            # 16-bit sources stay 16-bit; deeper ones keep 24 bits of their 32.
            deep = source.format.bits > 16 or source.name in ("pcm_s24le", "pcm_s32le")
            target.format = ("s32" if name == "flac" else "s32p") if deep else \
                ("s16" if name == "flac" else "s16p")
    else:
        target.bit_rate = source.bit_rate or _LOSSY_BITRATE
    target.flags |= av.codec.context.Flags.bitexact
    return stream


def _encode(output: av.container.OutputContainer, sink: AudioOut,
            frame: av.AudioFrame | None) -> None:
    """`frame` (None: the end) resampled to the encoder's format and frame size, encoded, muxed."""
    for resampled in sink.resample(frame):
        output.mux(sink.stream.encode(resampled))

