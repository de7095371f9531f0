"""The review of one file: which faces and text are covered, where, and how; saved as a small
JSON file.

A `Face` is one thing through time, of a kind (`REVIEW_KINDS`: a face, a licence plate, other
text): its boxes at key frames (a detected track has one at every frame it was found in, a
photo box exactly one), covered from frame `start` to frame `end` and linearly interpolated
between its keys (held before the first and after the last). The file holds numbers and short
names only: boxes, frame indices, kinds, modes, never pixels, crops or the text read in a
picture (the words of revoiced speech, below, are the one exception).

A video's review also holds its speech: `SpeechSpan`s (seconds from the sound's first sample,
found or marked by hand), each kept, muted, disguised or revoiced, and the sound's length
(`sound`: None when speech was never looked for, as in a review saved before voices; 0: the
file has no sound). A span to revoice holds its lines once transcribed (`revoice.Line`: what
the new voice says, as the reviewer edited it; a line in a language no voice speaks, muted,
without its words): the one place a review holds words, those the output will say.

A sound file's review has no picture: 0 × 0 pixels, 0 frames, no faces; its speech and the
sound's length (never None) are all it holds.

Over 400 lines, on purpose: the saved review's schema and its validation in one place, so that a
file the page writes is checked by the rules the server reads it with.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.revoice import Line
from ..audio.speech import Span
from ..detections import Detections, kind_index
from ..media.atomic import atomic_output
from ..options import KEEP, MODES, VOICES, Options

STATE_VERSION = 1
STATE_SUFFIX = ".review.json"
MAX_FACES = 5_000  # per file: more than any real picture, few enough to refuse a runaway page
MAX_SPEECH = 5_000  # speech spans per file: hours of talk, yet a bound on what a page may send
MAX_SOUND = 7 * 24 * 3600.0  # seconds: the longest sound a review may say it has
SPEECH_SOURCES = ("detected", "marked")
MAX_LINES = 20_000  # transcript lines per file, all spans together: hours of talk
MAX_LINE_TEXT = 1_000  # characters one line may say (Whisper's lines hold a sentence or two)
MAX_SPEAKER = 99  # speaker groups a line may name
LINE_EDITS = ("revoice", "mute")  # said by the new voice; muted (a language no voice speaks)
LINE_SLACK = 0.002  # seconds a line may reach past its span's edge (rounding), then clamped
# What a reviewed box can be (a state saved before kinds existed holds faces only).
REVIEW_KINDS = ("face", "plate", "text", "person")


class StateError(ValueError):
    """A review state that is not well formed (from the page or from a saved file)."""


@dataclass
class Face:
    id: str
    source: str  # "detected" or "drawn"
    keep: bool
    mode: str
    start: int
    end: int
    keys: list[list[float]]  # [[frame, x1, y1, x2, y2], …], sorted by frame
    score: float = 1.0
    kind: str = "face"  # one of REVIEW_KINDS

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box at `frame`, or None outside `start`…`end`."""
        if not self.keys or frame < self.start or frame > self.end:
            return None
        frames = [k[0] for k in self.keys]
        coords = np.array([k[1:] for k in self.keys], np.float64)
        if frame <= frames[0]:
            return coords[0]
        if frame >= frames[-1]:
            return coords[-1]
        return np.array([np.interp(frame, frames, coords[:, i]) for i in range(4)])

    def to_json(self) -> dict:
        return {"id": self.id, "source": self.source, "keep": self.keep, "mode": self.mode,
                "kind": self.kind, "start": self.start, "end": self.end,
                "score": round(self.score, 3),
                "keys": [[int(k[0])] + [round(float(v), 1) for v in k[1:]] for k in self.keys]}


@dataclass
class SpeechSpan:
    """A stretch of speech, in seconds from the sound's first sample, and what happens to it."""

    id: str
    source: str  # "detected" or "marked" (by hand)
    start: float
    end: float
    voice: str  # one of VOICES: keep, mute, disguise, revoice
    # What the new voice says in the span (seconds of the sound, within the span); None: not
    # transcribed yet. Kept when the span's voice changes, so a switch back finds them.
    lines: list[Line] | None = None

    def to_json(self) -> dict:
        data = {"id": self.id, "source": self.source, "start": round(self.start, 3),
                "end": round(self.end, 3), "voice": self.voice}
        if self.lines is not None:
            data["lines"] = [line_json(line) for line in self.lines]
        return data

    @property
    def untranscribed(self) -> bool:
        """Whether the span is to be revoiced and has no lines yet."""
        return self.voice == "revoice" and self.lines is None


@dataclass
class Review:
    """Every face of one file, the mode for a video, and whether a person has looked at it."""

    name: str  # the input's file name (not its folder)
    width: int
    height: int
    frames: int
    mode: str
    faces: list[Face] = field(default_factory=list)
    reviewed: bool = False
    speech: list[SpeechSpan] = field(default_factory=list)
    sound: float | None = None  # seconds of sound; None: speech never looked for

    @property
    def sound_only(self) -> bool:
        """Whether this is the review of a sound file (no picture, no frames)."""
        return self.frames == 0

    def speech_edits(self) -> list[tuple[Span, str]] | None:
        """Each speech span and its voice, for `anonymize_file(speech=…)`; None when speech
        was never looked for (the export then finds it, as `blindspot FILE` would)."""
        if self.sound is None:
            return None
        return [(Span(s.start, s.end), s.voice) for s in sorted(self.speech,
                                                                 key=lambda s: s.start)]

    def revoice_lines(self) -> list[Line] | None:
        """What the new voices say, for `anonymize_file(lines=…)`: the lines of every span to
        revoice (a line emptied by the reviewer is removed: its time stays silent); None when
        no span is revoiced. ValueError when one of them has not been transcribed."""
        spans = [s for s in self.speech if s.voice == "revoice"]
        if not spans:
            return None
        if any(s.lines is None for s in spans):
            raise ValueError("a span to revoice has not been transcribed")
        return [line for s in spans for line in s.lines or []
                if line.edit == "mute" or line.text.strip()]

    def detections(self, left: bool = False) -> tuple[list[Detections], list[list[str]]]:
        """The boxes to cover in each frame (kept faces only) and each box's mode, each box of
        its face's kind. `left`: detected plates and text that are not kept come too, in mode
        `KEEP` (left visible: not covered, but counted as left in a report)."""
        per_frame: list[list[np.ndarray]] = [[] for _ in range(self.frames)]
        modes: list[list[str]] = [[] for _ in range(self.frames)]
        ids: list[list[int]] = [[] for _ in range(self.frames)]
        kinds: list[list[int]] = [[] for _ in range(self.frames)]
        for number, face in enumerate(self.faces):
            shown = left and face.kind != "face" and face.source == "detected"
            if not face.keep and not shown:
                continue
            for frame in range(max(0, face.start), min(self.frames - 1, face.end) + 1):
                box = face.box_at(frame)
                if box is not None:
                    per_frame[frame].append(box)
                    modes[frame].append(face.mode if face.keep else KEEP)
                    ids[frame].append(number)
                    kinds[frame].append(kind_index(face.kind))
        dets = [Detections(np.array(boxes, np.float32).reshape(-1, 4),
                           np.ones(len(boxes), np.float32), np.array(track, np.int64),
                           np.array(kind, np.uint8))
                for boxes, track, kind in zip(per_frame, ids, kinds, strict=True)]
        return dets, modes

    def detections_at(self, frame: int) -> tuple[Detections, list[str]]:
        """The boxes to cover in `frame` and their modes (what `detections` gives for it)."""
        boxes, modes, kinds = [], [], []
        for face in self.faces:
            box = face.box_at(frame) if face.keep else None
            if box is not None:
                boxes.append(box)
                modes.append(face.mode)
                kinds.append(kind_index(face.kind))
        return Detections(np.array(boxes, np.float32).reshape(-1, 4),
                          np.ones(len(boxes), np.float32), kinds=np.array(kinds, np.uint8)), modes

    def to_json(self) -> dict:
        return {"blindspot_review": STATE_VERSION, "name": self.name, "width": self.width,
                "height": self.height, "frames": self.frames, "mode": self.mode,
                "reviewed": self.reviewed, "faces": [f.to_json() for f in self.faces],
                **({} if self.sound is None else {
                    "sound": round(self.sound, 3),
                    "speech": [s.to_json() for s in self.speech]})}

    @classmethod
    def from_json(cls, data: object) -> Review:
        """A Review from untrusted JSON (the page, a saved file): every field checked."""
        if not isinstance(data, dict):
            raise StateError("the review must be a JSON object")
        # 0 frames: a sound file's review, with no picture (0 × 0) and no faces.
        frames = _int(data.get("frames"), "frames", 0, 1 << 20)
        low = 1 if frames else 0
        width, height = (_int(data.get(k), k, low, 1 << 20 if frames else 0)
                         for k in ("width", "height"))
        faces_data = data.get("faces")
        if not isinstance(faces_data, list) or len(faces_data) > MAX_FACES:
            raise StateError(f"faces must be a list of at most {MAX_FACES}")
        if not frames and faces_data:
            raise StateError("a sound file's review has no faces")
        faces = [_face(f, width, height, frames) for f in faces_data]
        if len({f.id for f in faces}) != len(faces):
            raise StateError("face ids must differ")
        sound, speech = _speech(data)
        if not frames and sound is None:
            raise StateError("a sound file's review needs the sound's length")
        return cls(name=str(data.get("name", "")), width=width, height=height, frames=frames,
                   mode=_mode(data.get("mode")), faces=faces,
                   reviewed=bool(data.get("reviewed", False)), speech=speech, sound=sound)


def from_detections(name: str, width: int, height: int, found: list[Detections],
                    options: Options) -> Review:
    """The review before anyone looked: every detected box (or track) of a covered kind kept,
    in its kind's mode; text found but not covered (`Options.mode_for` is `KEEP`) not kept,
    with the mode it gets if the reviewer covers it."""
    faces: list[Face] = []
    tracks: dict[tuple[str, int], list[list[float]]] = {}
    scores: dict[tuple[str, int], float] = {}

    def face(face_id: str, kind: str, keys: list[list[float]], score: float) -> Face:
        if kind not in REVIEW_KINDS:
            raise ValueError(f"a review holds {', '.join(REVIEW_KINDS)}, not {kind!r}")
        return Face(face_id, "detected", options.mode_for(kind) != KEEP,
                    options.covered_mode(kind), int(keys[0][0]), int(keys[-1][0]), keys, score,
                    kind)

    for frame, dets in enumerate(found):
        ids = [-1] * len(dets) if dets.track_ids is None else dets.track_ids.tolist()
        for box, score, kind, tid in zip(dets.boxes.tolist(), dets.scores.tolist(),
                                         dets.kind_names(), ids, strict=True):
            if tid < 0:  # a photo (or an untracked box): each box its own
                faces.append(face(f"f{len(faces) + 1}", kind, [[frame, *box]], score))
                continue
            tracks.setdefault((kind, tid), []).append([frame, *box])
            scores[kind, tid] = max(scores.get((kind, tid), 0.0), score)
    for number, tid in enumerate(sorted(tracks, key=lambda t: tracks[t][0][0])):
        faces.append(face(f"t{number + 1}", tid[0], simplify(tracks[tid]), scores[tid]))
    return Review(name, width, height, len(found), options.mode, faces)


def line_json(line: Line) -> dict:
    """A transcript line as the review saves it (a muted line without its words)."""
    return {"start": round(line.start, 3), "end": round(line.end, 3),
            "text": line.text if line.edit == "revoice" else "", "language": line.language,
            "speaker": line.speaker, "edit": line.edit}


def span_lines(lines: list[Line], start: float, end: float) -> list[Line]:
    """Transcribed `lines` as a span from `start` to `end` s holds them: inside it, in order,
    a muted line without its words."""
    def inside(t: float) -> float:
        return float(min(max(t, start), end))

    return sorted((Line(inside(x.start), inside(max(x.start, x.end)),
                        x.text if x.edit == "revoice" else "", x.language,
                        x.speaker, x.edit) for x in lines), key=lambda x: x.start)


def sound_review(name: str, duration: float, spans: list[Span], voice: str,
                 mode: str = "solid") -> Review:
    """The review of a sound file before anyone listened: its speech, each span in `voice`."""
    return Review(name, 0, 0, 0, mode, [], speech=speech_spans(spans, voice), sound=duration)


def speech_spans(spans: list[Span], voice: str) -> list[SpeechSpan]:
    """The speech found, before anyone listened: one span per span found, each in `voice`."""
    return [SpeechSpan(f"s{number + 1}", "detected", span.start, span.end, voice)
            for number, span in enumerate(spans)]


def simplify(keys: list[list[float]], tolerance: float = 0.5) -> list[list[float]]:
    """The fewest keys whose interpolation stays within `tolerance` px of every key given
    (greedy: a key is dropped while the line between its neighbours kept stays close)."""
    if len(keys) <= 2:
        return keys
    kept = [keys[0]]
    anchor = 0
    for i in range(2, len(keys)):
        a, b = keys[anchor], keys[i]
        span = b[0] - a[0]
        for j in range(anchor + 1, i):
            t = (keys[j][0] - a[0]) / span if span else 0.0
            if any(abs(a[c] + t * (b[c] - a[c]) - keys[j][c]) > tolerance for c in range(1, 5)):
                kept.append(keys[i - 1])
                anchor = i - 1
                break
    kept.append(keys[-1])
    return kept


def state_path(output: Path) -> Path:
    """Where the review of the file written to `output` is saved: `output` + .review.json."""
    return output.with_name(output.name + STATE_SUFFIX)


def save(review: Review, output: Path) -> Path:
    """Write the review beside `output`, atomically; return its path."""
    path = state_path(output)
    data = json.dumps(review.to_json(), separators=(",", ":")).encode()
    with atomic_output(path, overwrite=True) as f:
        f.write(data)
    return path


def load(output: Path) -> Review | None:
    """The saved review of `output`, or None when there is none or it cannot be read."""
    path = state_path(output)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        return Review.from_json(data)
    except StateError:
        return None


def _ident(data: dict, what: str) -> str:
    """The `id` of a face or speech span: 1 to 32 characters."""
    ident = data.get("id")
    if not isinstance(ident, str) or not 0 < len(ident) <= 32:
        raise StateError(f"{what} needs an id of 1 to 32 characters")
    return ident


def _face(data: object, width: int, height: int, frames: int) -> Face:
    if not isinstance(data, dict):
        raise StateError("each face must be a JSON object")
    face_id = _ident(data, "a face")
    source = data.get("source")
    if source not in ("detected", "drawn"):
        raise StateError("a face's source is 'detected' or 'drawn'")
    start = _int(data.get("start"), "start", 0, frames - 1)
    end = _int(data.get("end"), "end", start, frames - 1)
    keys_data = data.get("keys")
    if not isinstance(keys_data, list) or not 0 < len(keys_data) <= frames:
        raise StateError("a face needs 1 key per frame at most, and at least one")
    keys: list[list[float]] = []
    for key in keys_data:
        if not isinstance(key, list) or len(key) != 5:
            raise StateError("a key is [frame, x1, y1, x2, y2]")
        frame = _int(key[0], "key frame", 0, frames - 1)
        x1, y1, x2, y2 = (_coord(v, limit) for v, limit in zip(
            key[1:], (width, height, width, height), strict=True))
        if not (x2 > x1 and y2 > y1):
            raise StateError("a box needs x2 > x1 and y2 > y1")
        keys.append([frame, x1, y1, x2, y2])
    keys.sort(key=lambda k: k[0])
    if len({k[0] for k in keys}) != len(keys):
        raise StateError("a face has at most one key per frame")
    score = data.get("score", 1.0)
    score = float(score) if isinstance(score, int | float) and math.isfinite(score) else 1.0
    kind = data.get("kind", "face")  # saved before kinds existed: a face
    if kind not in REVIEW_KINDS:
        raise StateError(f"a box's kind is one of {', '.join(REVIEW_KINDS)}")
    return Face(face_id, source, bool(data.get("keep", True)), _mode(data.get("mode")), start,
                end, keys, score, str(kind))


def _speech(data: dict) -> tuple[float | None, list[SpeechSpan]]:
    """The sound's length and the speech spans of a review (saved before voices: none)."""
    sound = data.get("sound")
    if sound is None:
        if data.get("speech"):
            raise StateError("speech spans need the sound's length")
        return None, []
    sound = _seconds(sound, "sound", 0.0, MAX_SOUND)
    spans_data = data.get("speech", [])
    if not isinstance(spans_data, list) or len(spans_data) > MAX_SPEECH:
        raise StateError(f"speech must be a list of at most {MAX_SPEECH}")
    spans = []
    budget = [MAX_LINES]  # transcript lines left for the spans still to read
    for span in spans_data:
        if not isinstance(span, dict):
            raise StateError("each speech span must be a JSON object")
        span_id = _ident(span, "a speech span")
        source = span.get("source")
        if source not in SPEECH_SOURCES:
            raise StateError("a speech span's source is 'detected' or 'marked'")
        # Clamped to the sound: a span marked at the last frame may reach past its end.
        start, end = (min(max(0.0, _seconds(span.get(k), k, -MAX_SOUND, MAX_SOUND)), sound)
                      for k in ("start", "end"))
        if not start < end:
            raise StateError("a speech span needs start < end, within the sound")
        voice = span.get("voice")
        if voice not in VOICES:
            raise StateError(f"a speech span's voice is one of {', '.join(VOICES)}")
        lines = _lines(span.get("lines"), start, end, budget)
        spans.append(SpeechSpan(span_id, str(source), start, end, str(voice), lines))
    if len({s.id for s in spans}) != len(spans):
        raise StateError("speech span ids must differ")
    return sound, spans


def _lines(data: object, start: float, end: float, budget: list[int]) -> list[Line] | None:
    """The transcript lines of a span from `start` to `end` s (None: not transcribed), each
    checked; `budget` holds how many lines the review may still have, and is spent."""
    if data is None:
        return None
    if not isinstance(data, list) or len(data) > budget[0]:
        raise StateError(f"a span's lines must be a list, at most {MAX_LINES} in a review")
    budget[0] -= len(data)
    return span_lines([_line(line, start, end) for line in data], start, end)


def _line(data: object, start: float, end: float) -> Line:
    if not isinstance(data, dict):
        raise StateError("each line must be a JSON object")
    a, b = (_seconds(data.get(k), f"a line's {k}", -MAX_SOUND, MAX_SOUND)
            for k in ("start", "end"))
    if not start - LINE_SLACK <= a <= b <= end + LINE_SLACK:
        raise StateError("a line lies within its span, with start <= end")
    text = data.get("text")
    if (not isinstance(text, str) or len(text) > MAX_LINE_TEXT
            or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)):
        raise StateError(f"a line's text is one line of at most {MAX_LINE_TEXT} characters")
    language = data.get("language", "")
    if not isinstance(language, str) or len(language) > 16 or not all(
            c.isascii() and (c.isalpha() or c == "-") for c in language):
        raise StateError("a line's language is a short language code")
    speaker = _int(data.get("speaker", 0), "a line's speaker", 0, MAX_SPEAKER)
    edit = data.get("edit", "revoice")
    if edit not in LINE_EDITS:
        raise StateError(f"a line's edit is one of {', '.join(LINE_EDITS)}")
    return Line(a, b, text, language, speaker, str(edit))


def _seconds(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"{name} must be a number of seconds")
    if not low <= value <= high:
        raise StateError(f"{name} must be from {low:.0f} to {high:.0f} seconds")
    return float(value)


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StateError(f"{name} must be a whole number from {low} to {high}")
    return value


def _coord(value: object, limit: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError("box coordinates must be numbers")
    # A box may reach past the picture (a face cut by the edge); the mask is clipped anyway.
    if not -limit <= value <= 2 * limit:
        raise StateError("a box lies too far outside the picture")
    return float(value)


def _mode(value: object) -> str:
    if value not in MODES:
        raise StateError(f"mode must be one of {', '.join(MODES)}")
    return str(value)
