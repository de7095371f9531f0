"""One decoded video frame as blindspot sees it: 8-bit RGB, upright, its pixels' aspect known.

The decoded picture is converted to RGB on first use only (through swscale, one context per
thread and format, kept from frame to frame); PQ and HLG (HDR) pictures are tone-mapped to SDR.
The display matrix (rotation, flips) is applied to the pixels, as `ffmpeg -autorotate` does.
The sample aspect ratio (pixels that are not square, as in anamorphic PAL and NTSC video) is
read from the stream, turned with the picture, and refused past `MAX_ASPECT`.
"""

from __future__ import annotations

import fractions
import threading
from functools import lru_cache

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import BlindspotError

# AVColorSpace (what frames carry) → swscale's colour matrix names.
_MATRICES = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m",
             9: "bt2020", 10: "bt2020"}
_PQ, _HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67


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


def square_stretch(aspect: fractions.Fraction | float) -> tuple[float, float]:
    """How much a picture whose pixels are `aspect` (a displayed pixel's width over its
    height) is stretched in width and height to be seen with square pixels: the narrower side
    of a pixel is stretched, nothing is shrunk (no detail lost)."""
    return (float(aspect), 1.0) if aspect >= 1 else (1.0, float(1 / aspect))


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
