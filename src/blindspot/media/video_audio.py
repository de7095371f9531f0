"""A video's sound on its way out (also a sound file's, `sound`): its packets copied where the
output container can hold its codec, else re-encoded (AAC; Opus in WebM); with an editor
(`audio.edit.SpanEditor`: speech muted or disguised), decoded, edited and encoded again in its
own codec where the container and FFmpeg's encoders allow. The sample clock never moves: the
output's sample N is the input's sample N.
"""

from __future__ import annotations

import fractions
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np

from ..errors import BlindspotError

# Audio codecs re-encoded when the output container cannot hold the source's codec.
_AUDIO_FALLBACK = {"webm": "libopus"}
# MP4's muxer accepts more (PCM, say) than it can always write or players play.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
_AUDIO_BITRATE = 160_000
_AUDIO_FRAME_SIZE = {"aac": 1024, "libopus": 960, "libmp3lame": 1152}
# Encoders of the decoders' codecs where FFmpeg names them otherwise (an edited sound keeps
# its codec).
_AUDIO_ENCODERS = {"opus": "libopus", "mp3": "libmp3lame", "vorbis": "libvorbis"}


class AudioEditor(Protocol):
    """Edits the samples of one audio stream in order (see `audio.edit.SpanEditor`)."""

    def push(self, samples: np.ndarray, start: int) -> list[tuple[np.ndarray, int]]: ...

    def finish(self) -> list[tuple[np.ndarray, int]]: ...


def audio_out(output: av.container.OutputContainer, muxer: str,
              source: av.audio.stream.AudioStream,
              edit_audio: Callable[[int], AudioEditor] | None = None) -> AudioOut:
    """Where `source`'s audio goes in `output` (written by `muxer`): with `edit_audio`, through
    its editor into an encoder of the same codec (`_same_codec`); else its packets copied, or
    re-encoded where the container cannot hold its codec."""
    if edit_audio is not None:
        rate = source.codec_context.sample_rate or 48000
        return AudioOut(source, _same_codec(output, muxer, source), editor=edit_audio(rate))
    if muxer == "mp4" and source.codec_context.name not in _MP4_AUDIO:
        return AudioOut(source, _audio_encoder(output, muxer, source))
    try:
        stream = output.add_stream_from_template(source)
    except ValueError:  # the container cannot hold this codec
        return AudioOut(source, _audio_encoder(output, muxer, source))
    stream.metadata.clear()
    return AudioOut(source, stream, copy=True)


def _same_codec(output: av.container.OutputContainer, muxer: str,
                source: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
    """An encoder of the source's codec, rate and channels, when this container and FFmpeg's
    encoders allow; else `_audio_encoder`'s."""
    context = source.codec_context
    name = _AUDIO_ENCODERS.get(context.name, context.name)
    if muxer == "mp4" and context.name not in _MP4_AUDIO:
        return _audio_encoder(output, muxer, source)
    try:
        stream = output.add_stream(name, rate=context.sample_rate)
    except (ValueError, av.FFmpegError):
        return _audio_encoder(output, muxer, source)
    stream.layout = context.layout.name
    stream.bit_rate = context.bit_rate or _AUDIO_BITRATE
    return stream


def _audio_encoder(output: av.container.OutputContainer, muxer: str,
                   source: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
    name = _AUDIO_FALLBACK.get(muxer, "aac")
    rate = source.codec_context.sample_rate or 48000
    if name == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate = 48000
    stream = output.add_stream(name, rate=rate)
    channels = source.codec_context.layout.nb_channels
    stream.layout = "mono" if channels == 1 else "stereo"
    stream.bit_rate = _AUDIO_BITRATE
    return stream


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
