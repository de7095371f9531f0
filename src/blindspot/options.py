"""`Options`: every setting of one anonymization run, shared by the API, the CLI and reports."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .detect.faces import DetectorSettings
from .detect.onnx import DEVICES
from .detect.people import PeopleSettings
from .detect.support import SUPPORT_PEOPLE, SupportSettings
from .detect.text import TextSettings

MODES = ("solid", "mosaic", "blur")
VOICES = ("keep", "mute", "disguise", "revoice")
DEFAULT_VIDEO_VOICE = "keep"
DEFAULT_SOUND_VOICE = "mute"
# `--cover`: what is covered. "text" is all text, plates included; each name covers the
# kinds (`detections.KINDS`) listed here.
COVER = {"faces": ("face",), "plates": ("plate",), "text": ("plate", "text"),
         "people": ("person",)}
# `--mode KIND=MODE` names a kind as `--cover` does.
MODE_KINDS = {"faces": "face", "plates": "plate", "text": "text", "people": "person"}
# The mode of a box of a kind that is found but not covered (text when only plates are).
KEEP = "keep"


def parse_cover(text: str) -> tuple[str, ...]:
    """`--cover faces,plates` → ("faces", "plates"); ValueError names what is wrong."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in COVER]
    if unknown or not names:
        raise ValueError(f"--cover takes a comma list of {', '.join(COVER)}, not {text!r}")
    return names


def parse_modes(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`--mode blur` or `--mode blur,text=solid` → ("blur", (("text", "solid"),)): the mode of
    every kind, then modes of single kinds."""
    default, per_kind = Options.mode, []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, _, mode = part.rpartition("=")
        if kind and kind not in MODE_KINDS:
            raise ValueError(f"--mode: unknown kind {kind!r} (one of {', '.join(MODE_KINDS)})")
        if mode not in MODES:
            raise ValueError(f"--mode: unknown mode {mode!r} (one of {', '.join(MODES)})")
        if kind:
            per_kind.append((kind, mode))
        else:
            default = mode
    return default, tuple(per_kind)


@dataclass(frozen=True)
class Options:
    # What is covered (names of `COVER`); faces always are.
    cover: tuple[str, ...] = ("faces",)
    # How: `mode` for every kind, unless `kind_modes` names another for a kind ("text", …).
    mode: str = "solid"
    kind_modes: tuple[tuple[str, str], ...] = ()
    threshold: float = DetectorSettings.threshold
    # Cover every weak face box, even one nothing supports (`support_settings`): more false
    # blots, no weak face dropped.
    keep_weak: bool = False
    # The mask is an ellipse this many times the face box (plus the box itself), so hairline,
    # ears and chin are covered as well.
    mask_scale: float = 1.6
    # Replace an existing output file. An input file is never overwritten, whatever this says.
    overwrite: bool = False
    # Images larger than this are refused instead of exhausting memory.
    max_pixels: int = 150_000_000
    # Frames per animated image at most.
    max_frames: int = 2_000
    # Video: detect on every n-th frame (tracking covers the frames between), x264 quality
    # (lower is better), copy the sound, and refuse videos longer than this many seconds.
    detect_every: int = 4
    # Video: every this many frames (from the first), detect with the photo detector's passes
    # (small faces in tiles, large ones downscaled) instead of the video detector; 0 = never.
    full_every: int = 24
    crf: int = 20
    keep_audio: bool = True
    # What happens to speech in the sound (`VOICES`): kept as it is, muted, disguised (the
    # words stay, the voice changes) or revoiced (the words spoken again by a synthetic voice;
    # needs the voice extra). None: `voice_for` picks (a sound file's voice is never
    # kept unless asked).
    voice: str | None = None
    max_duration: float = 6 * 3600.0
    # Where the model runs (cpu, cuda, auto) and the threads per process of ONNX Runtime, and
    # of the video decoder and encoder (0: their defaults, about one per core). They change
    # the speed, never what is found.
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        # Faces are always covered: a kind named is covered as well as faces, never instead.
        object.__setattr__(self, "cover", tuple(dict.fromkeys(("faces", *self.cover))))
        object.__setattr__(self, "kind_modes", tuple(tuple(p) for p in self.kind_modes))
        if not self.cover or set(self.cover) - set(COVER):
            raise ValueError(f"cover must name some of {', '.join(COVER)}, not {self.cover!r}")
        for mode in (self.mode, *(m for _, m in self.kind_modes)):
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if any(kind not in MODE_KINDS for kind, _ in self.kind_modes):
            raise ValueError(f"kind modes must name kinds of {', '.join(MODE_KINDS)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie between 0 and 1, not {self.threshold}")
        if not 1.0 <= self.mask_scale <= 4.0:
            raise ValueError(f"mask scale must lie between 1.0 and 4.0, not {self.mask_scale}")
        if not 1 <= self.detect_every <= 30:
            raise ValueError(f"detect-every must lie between 1 and 30, not {self.detect_every}")
        if not 0 <= self.full_every <= 300:
            raise ValueError(f"full-every must lie between 0 and 300, not {self.full_every}")
        if self.voice is not None and self.voice not in VOICES:
            raise ValueError(f"voice must be one of {', '.join(VOICES)}, not {self.voice!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must lie between 0 and 51, not {self.crf}")
        if not 1 <= self.max_pixels:
            raise ValueError(f"max-pixels must be at least 1, not {self.max_pixels}")
        if not 1 <= self.max_frames:
            raise ValueError(f"max-frames must be at least 1, not {self.max_frames}")
        if not 0 < self.max_duration < float("inf"):  # NaN fails too: no limit is no limit
            raise ValueError(f"max-duration must be a positive number of seconds, not "
                             f"{self.max_duration}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not 0 <= self.threads <= 1024:
            raise ValueError(f"threads must lie between 0 and 1024, not {self.threads}")

    def voice_for(self, sound_only: bool) -> str:
        """What happens to speech: `voice` when given; else in a video it is kept (the summary
        says so) and in a sound file muted, since the voice is all a recording has to give
        its speaker away and nothing else of it would be anonymized."""
        if self.voice is not None:
            return self.voice
        return DEFAULT_SOUND_VOICE if sound_only else DEFAULT_VIDEO_VOICE

    def covered_kinds(self) -> set[str]:
        """The kinds (of `detections.KINDS`) that are covered."""
        return {kind for name in self.cover for kind in COVER[name]}

    def finds_text(self) -> bool:
        """Whether the text detector runs (plates or text are covered)."""
        return bool(self.covered_kinds() & {"plate", "text"})

    def finds_people(self) -> bool:
        """Whether the person detector runs (people are covered)."""
        return "person" in self.covered_kinds()

    def named_modes(self) -> dict[str, str]:
        """The modes `kind_modes` names (`--mode KIND=MODE`), by kind of `detections.KINDS`."""
        return {MODE_KINDS[k]: m for k, m in self.kind_modes}

    def covered_mode(self, kind: str) -> str:
        """The mode a box of `kind` gets when it is covered: its `--mode KIND=` entry or the
        mode of every kind (also for a kind found but not covered, should a reviewer cover
        it)."""
        return self.named_modes().get(kind, self.mode)

    def mode_for(self, kind: str) -> str:
        """How a box of `kind` is covered: its mode, or `KEEP` when the kind is not covered."""
        return self.covered_mode(kind) if kind in self.covered_kinds() else KEEP

    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(threshold=self.threshold, device=self.device,
                                threads=self.threads)

    def support_settings(self) -> SupportSettings:
        """Which weak face boxes are kept (those something supports: docs/phantoms.md; all
        of them with `keep_weak`)."""
        return SupportSettings.off() if self.keep_weak else SupportSettings()

    def support_people_settings(self) -> PeopleSettings:
        """The people detector the weak-box filter runs where people are not covered."""
        return replace(SUPPORT_PEOPLE, device=self.device, threads=self.threads)

    def text_settings(self) -> TextSettings:
        return TextSettings(device=self.device, threads=self.threads)

    def people_settings(self) -> PeopleSettings:
        return PeopleSettings(device=self.device, threads=self.threads)

    def video_people_settings(self) -> PeopleSettings:
        """Video frames between thorough ones: the person detector's lighter pass."""
        return PeopleSettings.video(device=self.device, threads=self.threads)

    def video_text_settings(self) -> TextSettings:
        """Video frames between thorough ones: the whole frame only, at most about 720p."""
        return TextSettings.video(device=self.device, threads=self.threads)

    def video_detector_settings(self) -> DetectorSettings:
        """Video frames get a lighter detector (tracking fills in what one frame misses): the
        whole frame as is, or, following the previous detection run, the frame at half size and
        the regions around small faces as they are (`DetectorSettings.focus_*`)."""
        return DetectorSettings(threshold=self.threshold, coarse_scale=0.0, tile_scale=0.0,
                                focus_scale=0.5, device=self.device, threads=self.threads)
