"""Sound files for the tests and bench/sound.py, written with PyAV (FFmpeg's libraries): WAV, FLAC,
MP3, M4A (AAC), AAC (ADTS), Ogg Opus and Ogg Vorbis, with the tags a recorder or a tagging app
leaves (artist, comment, a place) and, for MP3 and M4A, a cover picture."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

TAGS = {"artist": "Jane Source", "comment": "met her at the bus depot",
        "location": "+48.8566+002.3522/"}
# Extension → (muxer, encoder); `codec=` picks another encoder (Ogg "vorbis", say).
FORMATS = {".wav": ("wav", "pcm_s16le"), ".flac": ("flac", "flac"),
           ".mp3": ("mp3", "libmp3lame"), ".m4a": ("mp4", "aac"), ".aac": ("adts", "aac"),
           ".ogg": ("ogg", "libopus"), ".opus": ("opus", "libopus")}
COVER = (".mp3", ".m4a")  # formats that carry a cover picture here
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def write_sound(path: Path, samples: np.ndarray, rate: int, tags: dict[str, str] | None = None,
                cover: bool = True, codec: str | None = None, bit_rate: int = 64_000) -> Path:
    """`samples` (float, (n,) or (channels, n), -1..1) at `rate` into `path`, by its extension;
    Opus at a rate it has not is resampled to 48 kHz. Returns `path`."""
    muxer, encoder = FORMATS[path.suffix.lower()]
    encoder = codec or encoder
    x = np.atleast_2d(np.asarray(samples, np.float32))
    layout = "mono" if x.shape[0] == 1 else "stereo"
    out_rate = 48000 if encoder == "libopus" and rate not in OPUS_RATES else rate
    options = {"write_id3v2": "1"} if muxer == "adts" else {}  # ADTS tags: ID3v2 before it
    with av.open(str(path), "w", format=muxer, options=options) as dst:
        dst.metadata.update(tags or {})
        stream = dst.add_stream(encoder, rate=out_rate)
        stream.layout = layout
        if encoder == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        if not encoder.startswith("pcm_") and encoder != "flac":
            stream.bit_rate = bit_rate
        picture = None
        if cover and tags and path.suffix.lower() in COVER:
            picture = dst.add_stream("mjpeg", rate=1)
            picture.width = picture.height = 64
            picture.pix_fmt = "yuvj420p"
            picture.disposition = av.stream.Disposition.attached_pic
        context = stream.codec_context
        resampler = av.AudioResampler(format=context.format.name, layout=layout, rate=out_rate,
                                      frame_size=context.frame_size or None)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(x, -1, 1)),
                                           format="fltp", layout=layout)
        frame.sample_rate = rate
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            dst.mux(stream.encode(chunk))
        dst.mux(stream.encode(None))
        if picture is not None:
            rgb = np.zeros((64, 64, 3), np.uint8)
            rgb[16:48, 16:48] = (200, 40, 40)
            image = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=picture.pix_fmt)
            dst.mux(picture.encode(image))
            dst.mux(picture.encode(None))
    return path


def decode(path: Path) -> tuple[np.ndarray, int, str]:
    """(mono float32 samples at the file's own rate, that rate, the codec) of the first audio
    stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, rate = stream.codec_context.name, stream.codec_context.sample_rate
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(stream)
                  for f in mono.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in mono.resample(None)]
    return np.concatenate(chunks).astype(np.float32), rate, codec


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """`samples` (mono float, -1..1) as a 16-bit WAV, without tags."""
    import wave
    pcm = np.clip(np.round(np.asarray(samples) * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def write_talking_clip(path: Path, sound: np.ndarray, rate: int,
                       picture: np.ndarray | None = None, fps: int = 10) -> Path:
    """An MP4: `picture` (H×W×3 uint8; default a plain grey 64 × 64) as H.264 for as long as
    `sound` lasts, and `sound` (mono float) as AAC at `rate`."""
    picture = np.full((64, 64, 3), 128, np.uint8) if picture is None else picture
    sound = np.asarray(sound, np.float32)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for index in range(int(len(sound) / rate * fps)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, len(sound), 1024):
            frame = av.AudioFrame.from_ndarray(sound[None, start:start + 1024], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path
