"""A review session: the files given on the command line, their reviews, pictures and export.

Files are known by a key, `ROOT/RELATIVE/PATH` (ROOT: the number of the command-line input
they came from), fixed when the session starts; nothing else on disk can be named. Pictures are
decoded lazily, one file at a time in a worker thread, and kept in memory only (small caches):
face pixels are never written to disk, only the review's numbers are. A video is decoded once
into downscaled JPEG frames for the player, then faces (and text, as `--cover` asks) are
found with `detect_file`, and the speech in its sound with `find_speech` (each span in the
session's voice, `Options.voice_for`, until the reviewer picks another). A sound file has no
pictures: its waveform (`waveform.py`: a few thousand levels) and its speech spans; the page
plays the file itself, served as it is (`sound_file`).

A span to revoice (the session's `--voice revoice`, or the reviewer's choice) is transcribed
in the background, in a worker of its own, once per span (known by its times: a span that did
not change is never transcribed again), and its lines join the review, where the reviewer
edits them; the export says exactly those lines (`anonymize_file(lines=…)`). A span still
without lines at export is transcribed then, as `blindspot FILE` would: where that fails (the
voice extra missing), the export of that file fails with the reason, never without words.

Over 400 lines, on purpose: the one object the review server asks for everything (files, frames,
sound, transcripts, export); its parts share its caches and locks. The transcript and export
jobs are the next to move out.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..audio.revoice import VOICES as NEW_VOICES
from ..audio.revoice import Line
from ..audio.speech import Span
from ..audio.voices import find_speech, transcribe
from ..audio.words import sensitive_words
from ..detect.tiles import resize
from ..detections import KINDS, SURE_SCORES
from ..errors import BlindspotError
from ..media.photo_source import open_image, read_photo
from ..media.sound import is_sound, probe_sound, read_audio
from ..media.video_frame import square_stretch
from ..media.video_reader import probe_video, read_frames
from ..options import MODE_KINDS, Options
from ..redact import PADS, redact
from ..run.outputs import plan_outputs
from ..run.pipeline import FileResult, anonymize_file, detect_file, detect_image, is_video
from ..run.report import write_report
from . import state
from .state import Review
from .waveform import RATE, Waveform, waveform

PAGE_SIZE = 48  # files per page of the file list
THUMB_SIDE = 160  # px, the file list's thumbnails
FACE_THUMB_SIDE = 72  # px, the face cards' thumbnails
TEXT_THUMB_SIDE = 280  # px, the plate and text cards' (a line of text is long and low)
FACE_SAMPLES = 5  # thumbnails per face card, spread over its frames
DISPLAY_SIDE = 1600  # px, the longest side of a photo as the page shows it
VIDEO_SIDE = 640  # px, the longest side of a video frame in the player
MAX_VIDEO_FRAMES = 3_000  # player frames kept per video; longer videos keep every n-th frame
JPEG_QUALITY = 85


class NotFound(LookupError):
    """A key that names no file of this session."""


class NotLoaded(RuntimeError):
    """Pictures asked for before the file was opened (and loaded)."""


SpanKey = tuple[float, float]  # a speech span's start and end, to the millisecond


@dataclass
class Entry:
    key: str
    source: Path
    output: Path
    kind: str  # "photo", "video" or "sound"
    real: Path | None = None  # the file's real path when the session started (no link)
    review: Review | None = None
    status: str = "new"  # new → loading → ready | error
    progress: str = ""
    error: str | None = None
    exported: bool = False
    saved: bool = False  # a saved review exists (read lazily)
    # Spans to revoice, by their times (`_span_key`): their transcription, done or not.
    transcripts: dict[tuple[float, float], Transcript] = field(default_factory=dict)


@dataclass
class Transcript:
    """The transcription of one span to revoice: queued, running, done (its lines, as the
    span holds them) or failed (`error`: the one-line reason)."""

    status: str = "queued"
    lines: list[Line] | None = None
    error: str | None = None


@dataclass
class VideoFrames:
    """The player's frames of one video: JPEGs of every `step`-th frame, downscaled by `scale`."""

    scale: float
    step: int
    jpegs: list[bytes]
    times: list[float]  # seconds, of every frame (not only the kept ones)
    fps: float
    # A displayed pixel's width over its height (1: square): the page shows the stored frames
    # widened (or heightened) to it, as a player does; boxes stay in stored pixels.
    aspect: float = 1.0


@dataclass
class SoundView:
    """What the page shows of a sound file besides its review: its waveform and format."""

    wave: Waveform
    rate: int
    channels: int
    codec: str

    def to_json(self) -> dict:
        return {"wave": self.wave.to_json(), "rate": self.rate, "channels": self.channels,
                "codec": self.codec}


@dataclass
class ExportJob:
    keys: list[str]
    done: int = 0
    current: str = ""
    running: bool = True
    errors: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


class _Cache:
    """A small least-recently-used dict, safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key) -> bool:
        return key in self._items

    def get(self, key, default=None):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return default

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Session:
    """Every file of one `blindspot review`, with what the page needs from each."""

    def __init__(self, inputs: list[str], output: Path | None, options: Options,
                 report: Path | None = None, report_hashes: bool = False) -> None:
        self.options = options
        self.report = report
        self.report_hashes = report_hashes
        self.roots: list[Path] = []
        self.entries: dict[str, Entry] = {}
        self.problems: list[str] = []
        self._lock = threading.RLock()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="blindspot-review")
        # Transcription (seconds of CPU per span) in a worker of its own: files still open.
        self._transcriber = ThreadPoolExecutor(1, thread_name_prefix="blindspot-transcribe")
        self._transcribing = threading.Lock()  # one transcription at a time (export waits)
        self._photos: _Cache = _Cache(3)  # key → list of frames (H×W×3)
        self._videos: _Cache = _Cache(2)  # key → VideoFrames
        self._sounds: _Cache = _Cache(32)  # key → SoundView (a few thousand numbers each)
        self._thumbs: _Cache = _Cache(2_000)  # key → JPEG bytes
        self._decoding = threading.Semaphore(2)
        self.export: ExportJob | None = None
        self._plan(inputs, output)

    # ------------------------------------------------------------------ the files

    def _plan(self, inputs: list[str], output: Path | None) -> None:
        jobs, self.problems = plan_outputs(inputs, output, "anon")
        # Which command-line input each job came from: its folder is the root of its key.
        allowed = []
        for name in inputs:
            path = Path(name)
            real = Path(os.path.realpath(path))
            allowed.append((real, path.is_dir()))
            self.roots.append(real if path.is_dir() else real.parent)
        for src, out in jobs:
            real = Path(os.path.realpath(src))
            for number, (root, is_dir) in enumerate(allowed):
                inside = real.is_relative_to(root) if is_dir else real == root
                if inside:
                    rel = real.relative_to(self.roots[number]).as_posix()
                    key = f"{number}/{rel}"
                    kind = ("video" if is_video(src) else "sound" if is_sound(src)
                            else "photo")
                    self.entries.setdefault(key, Entry(key, src, out, kind, real))
                    break
            else:  # a symbolic link out of the folders given: never served
                self.problems.append(f"{src}: links outside the folders given; skipped")

    def entry(self, key: str) -> Entry:
        """The file with `key`; only keys made at start exist (no path is ever resolved)."""
        entry = self.entries.get(key)
        if entry is None:
            raise NotFound(key)
        return entry

    def page(self, number: int) -> dict:
        keys = list(self.entries)
        pages = max(1, -(-len(keys) // PAGE_SIZE))
        number = min(max(0, number), pages - 1)
        rows = []
        for key in keys[number * PAGE_SIZE:(number + 1) * PAGE_SIZE]:
            entry = self.entries[key]
            if entry.review is None and not entry.saved:
                entry.saved = state.state_path(entry.output).exists()
            rows.append(self.summary(entry))
        return {"page": number, "pages": pages, "total": len(keys), "files": rows,
                "problems": self.problems, "overwrite": self.options.overwrite}

    def summary(self, entry: Entry) -> dict:
        reviewed = entry.review.reviewed if entry.review is not None else entry.saved
        return {"key": entry.key, "name": entry.source.name, "kind": entry.kind,
                "status": entry.status, "reviewed": reviewed, "exported": entry.exported,
                "output": entry.output.name}

    # ------------------------------------------------------------------ loading

    def open(self, key: str) -> dict:
        """The file's review for the page; starts loading it (once) when it is not loaded."""
        entry = self.entry(key)
        with self._lock:
            media_gone = entry.status == "ready" and not self._has_media(entry)
            if entry.status in ("new",) or media_gone:
                entry.status, entry.progress, entry.error = "loading", "queued", None
                self._worker.submit(self._load, entry)
        return self.describe(entry)

    def describe(self, entry: Entry) -> dict:
        data = self.summary(entry) | {"progress": entry.progress, "error": entry.error,
                                      "mask_scale": self.options.mask_scale,
                                      "pads": {KINDS[k]: pad for k, pad in PADS.items()},
                                      "sure_scores": SURE_SCORES,
                                      "default_mode": self.options.mode,
                                      "kind_modes": self.kind_modes(),
                                      "covered_kinds": sorted(self.options.covered_kinds()),
                                      "voice": self.options.voice_for(entry.kind == "sound"),
                                      "keep_audio": self.options.keep_audio,
                                      "new_voices": len(NEW_VOICES)}
        if entry.status == "ready" and entry.review is not None:
            data["review"] = _with_marks(entry.review.to_json())
            data["transcripts"] = self.transcript_status(entry)
            if entry.kind == "video":
                video = self._videos.get(entry.key)
                if video is not None:
                    data["times"] = [round(t, 3) for t in video.times]
                    data["fps"] = video.fps
                    data["aspect"] = video.aspect
            elif entry.kind == "sound":
                sound = self._sounds.get(entry.key)
                if sound is not None:
                    data["sound"] = sound.to_json()
        return data

    def kind_modes(self) -> dict[str, str]:
        """The mode a box of each kind gets when covered (`--mode KIND=MODE`) other than the
        mode of every kind (a video's own mode takes that one's place)."""
        named = self.options.named_modes()
        return {kind: named[kind] for kind in state.REVIEW_KINDS if kind in named}

    def _cache(self, entry: Entry) -> _Cache:
        return {"video": self._videos, "sound": self._sounds}.get(entry.kind, self._photos)

    def _has_media(self, entry: Entry) -> bool:
        return entry.key in self._cache(entry)

    def _load(self, entry: Entry) -> None:
        try:
            if entry.kind == "video":
                self._load_video(entry)
            elif entry.kind == "sound":
                self._load_sound(entry)
            else:
                self._load_photo(entry)
            entry.status, entry.progress = "ready", ""
            self._queue_transcripts(entry)
        except BlindspotError as e:
            entry.status, entry.error = "error", str(e.args[0] if e.args else e)
        except Exception as e:  # noqa: BLE001 - shown on the page; the session goes on
            entry.status, entry.error = "error", f"internal error ({type(e).__name__}: {e})"

    def _load_photo(self, entry: Entry) -> list[np.ndarray]:
        entry.progress = "decoding"
        photo = read_photo(entry.source, self.options.max_pixels, self.options.max_frames)
        self._photos.put(entry.key, photo.frames)
        if entry.review is None:
            height, width = photo.frames[0].shape[:2]
            entry.review = self._saved(entry, width, height, len(photo.frames))
            if entry.review is None:
                entry.progress = "finding faces"
                found = [detect_image(frame, self.options) for frame in photo.frames]
                entry.review = state.from_detections(entry.source.name, width, height, found,
                                                     self.options)
        return photo.frames

    def _load_video(self, entry: Entry) -> VideoFrames:
        info = probe_video(entry.source, self.options.max_pixels, self.options.max_duration)
        expected = info.frames or int(info.duration * (info.fps or 25)) or 1
        step = max(1, -(-expected // MAX_VIDEO_FRAMES))
        scale = min(1.0, VIDEO_SIDE / max(info.width, info.height))
        jpegs: list[bytes] = []
        times: list[float] = []
        for frame in read_frames(entry.source):
            if frame.index % step == 0:
                jpegs.append(_jpeg(frame.rgb, scale))
            times.append(float((frame.pts or 0) * frame.time_base))
            if frame.index % 25 == 0:
                entry.progress = f"decoding frame {frame.index + 1}"
        if not times:
            raise BlindspotError("the video has no frames")
        origin = times[0]
        video = VideoFrames(scale, step, jpegs, [t - origin for t in times], info.fps or 25.0,
                            float(info.aspect))
        if entry.review is None:
            entry.review = self._saved(entry, info.width, info.height, len(times))
            if entry.review is None:
                entry.progress = "finding and tracking faces"
                found = detect_file(entry.source, self.options)
                if len(found) != len(times):
                    raise BlindspotError("the video changed while it was read")
                entry.review = state.from_detections(entry.source.name, info.width,
                                                     info.height, found, self.options)
        if entry.review.sound is None and self.options.keep_audio:
            # Not looked for yet (a new review, or one saved before voices): each span found
            # gets the session's voice. Without sound there is none to find.
            entry.progress = "finding speech"
            speech = find_speech(entry.source) if info.audio_streams else None
            entry.review.sound = speech.duration if speech is not None else 0.0
            entry.review.speech = (state.speech_spans(speech.spans,
                                                      self.options.voice_for(False))
                                   if speech is not None else [])
        self._videos.put(entry.key, video)
        return video

    def _load_sound(self, entry: Entry) -> SoundView:
        """A sound file: its waveform (one decoding pass), then its speech (another, unless a
        saved review of a sound as long is resumed). Whatever `--no-audio` says: the sound is
        all the file has (its export refuses `--no-audio`, as `blindspot FILE` does)."""
        entry.progress = "reading the sound"
        info = probe_sound(entry.source, self.options.max_duration)

        def chunks():
            samples = 0
            for chunk in read_audio(entry.source, RATE):
                samples += len(chunk)
                entry.progress = f"reading the sound ({samples / RATE:.0f} s)"
                yield chunk

        wave = waveform(chunks())
        sound = SoundView(wave, info.rate, info.channels, info.codec)
        if entry.review is None:
            entry.review = self._saved_sound(entry, wave.duration)
            if entry.review is None:
                entry.progress = "finding speech"
                speech = find_speech(entry.source)
                entry.review = state.sound_review(entry.source.name, speech.duration,
                                                  speech.spans, self.options.voice_for(True),
                                                  self.options.mode)
        self._sounds.put(entry.key, sound)
        return sound

    def _saved_sound(self, entry: Entry, duration: float) -> Review | None:
        """The saved review of the sound file `entry`, if it is one of a sound this long."""
        saved = state.load(entry.output)
        if saved is None or not saved.sound_only or saved.sound is None:
            return None
        return saved if abs(saved.sound - duration) <= 0.01 else None

    def sound_file(self, key: str) -> Path:
        """The sound file with `key`, to be played as it is: only a sound file of this
        session, and only while its path still leads where it did at start (not to a link
        put in its place since)."""
        entry = self.entry(key)
        if entry.kind != "sound" or entry.real is None:
            raise NotFound(key)
        real = Path(os.path.realpath(entry.source))
        if real != entry.real or not real.is_file():
            raise NotFound(key)
        return real

    def _saved(self, entry: Entry, width: int, height: int, frames: int) -> Review | None:
        """The saved review of `entry`, if there is one and it fits the file as it is."""
        saved = state.load(entry.output)
        if saved is None or (saved.width, saved.height, saved.frames) != (width, height, frames):
            return None
        return saved

    # ------------------------------------------------------------------ editing

    def update(self, key: str, data: object) -> dict:
        """Replace the file's review with the page's (checked), and save it; spans to revoice
        that the page sent without lines get those transcribed (or are queued for it). The
        answer: the file's summary, and the words to check in each span's lines (`marks`)."""
        entry = self.entry(key)
        if entry.review is None:
            raise state.StateError("the file is not loaded yet")
        review = Review.from_json(data)
        with self._lock:
            old = entry.review
            if (review.width, review.height, review.frames) != (old.width, old.height,
                                                                 old.frames):
                raise state.StateError("the review is for a picture of another size")
            if (review.sound is None) != (old.sound is None) or (
                    review.sound is not None and abs(review.sound - old.sound) > 0.01):
                raise state.StateError("the review is for a sound of another length")
            review.name = entry.source.name
            _keep_lines(old, review)
            self._fill_lines(entry, review)
            entry.review = review
            state.save(review, entry.output)
            entry.saved = True
        self._queue_transcripts(entry)
        return self.summary(entry) | {"marks": _marks(review)}

    # ------------------------------------------------------------------ transcripts

    def transcript_status(self, entry: Entry) -> dict[str, dict]:
        """For each span of the review to revoice that has no lines yet: its transcription's
        status ("queued", "running", "error") and, when it failed, why."""
        review = entry.review
        out: dict[str, dict] = {}
        if review is None:
            return out
        with self._lock:
            for span in review.speech:
                if span.untranscribed:
                    known = entry.transcripts.get(_span_key(span), Transcript())
                    out[span.id] = {"status": known.status, "error": known.error}
        return out

    def _queue_transcripts(self, entry: Entry) -> None:
        """Transcribe, in the background, the spans to revoice that have no lines and were
        never transcribed (a failure is not tried again before the export)."""
        review = entry.review
        if review is None:
            return
        with self._lock:
            keys = {_span_key(s) for s in review.speech if s.untranscribed}
            new = sorted(k for k in keys if k not in entry.transcripts)
            for key in new:
                entry.transcripts[key] = Transcript()
        if new:
            self._transcriber.submit(self._transcribe_queued, entry)

    def _transcribe_queued(self, entry: Entry) -> None:
        with self._lock:
            keys = [k for k, t in entry.transcripts.items() if t.status == "queued"]
        try:
            self._transcribe(entry, keys)
        except BlindspotError:
            pass  # kept in the span's Transcript: the page shows it, the export raises it
        with self._lock:
            review = entry.review
            if review is not None and self._fill_lines(entry, review):
                try:
                    state.save(review, entry.output)
                    entry.saved = True
                except (OSError, BlindspotError):
                    pass  # kept in memory; the next change saves them or says why not

    def _transcribe(self, entry: Entry, keys: list[SpanKey]) -> None:
        """Transcribe the spans of `entry` with these times that are not done, one decoding
        pass for each set of spans that do not overlap. BlindspotError (with the file's
        name) when one failed; each span's Transcript says how it went."""
        with self._transcribing:
            with self._lock:
                todo = [k for k in keys if entry.transcripts.get(k, Transcript()).status
                        != "done"]
            for batch in _batches(todo):
                self._set_transcripts(entry, batch, Transcript("running"))
                try:
                    lines = transcribe(entry.source, [(Span(*k), "revoice") for k in batch])
                except BlindspotError as e:
                    self._set_transcripts(entry, batch, Transcript("error", error=e.reason))
                    raise BlindspotError(e.reason, str(entry.source)) from None
                except Exception as e:  # noqa: BLE001 - shown on the page and at export
                    reason = f"cannot transcribe: internal error ({type(e).__name__}: {e})"
                    self._set_transcripts(entry, batch, Transcript("error", error=reason))
                    raise BlindspotError(reason, str(entry.source)) from None
                with self._lock:
                    for key, part in _by_span(batch, lines).items():
                        entry.transcripts[key] = Transcript("done", state.span_lines(part,
                                                                                     *key))

    def _set_transcripts(self, entry: Entry, keys: list[SpanKey], value: Transcript) -> None:
        with self._lock:
            for key in keys:
                entry.transcripts[key] = replace(value)

    def _fill_lines(self, entry: Entry, review: Review) -> bool:
        """Give each span of `review` to revoice without lines those transcribed for its
        times, if any; whether any span got lines."""
        filled = False
        with self._lock:
            for span in review.speech:
                known = entry.transcripts.get(_span_key(span))
                if span.untranscribed and known is not None and known.status == "done":
                    span.lines = list(known.lines or [])
                    filled = True
        return filled

    def _export_lines(self, entry: Entry, review: Review) -> list[Line] | None:
        """The lines the export says: the review's (a span to revoice without any is
        transcribed now: BlindspotError where it cannot be); None when nothing is revoiced."""
        missing = [_span_key(s) for s in review.speech if s.untranscribed]
        if missing:
            self._transcribe(entry, missing)
            with self._lock:
                if self._fill_lines(entry, review):
                    state.save(review, entry.output)
        return review.revoice_lines()

    # ------------------------------------------------------------------ pictures

    def thumbnail(self, key: str) -> bytes:
        """A small JPEG of the file's first frame, made on first request and kept in memory."""
        entry = self.entry(key)
        if entry.kind == "sound":
            raise NotFound(key)  # no picture: the page shows a sign instead
        cached = self._thumbs.get(key)
        if cached is not None:
            return cached
        with self._decoding:  # a page asks for dozens at once: decode two at a time
            if entry.kind == "video":
                first = self._first_video_frame(entry)
            else:
                first = self._small_photo(entry)
            data = _jpeg(first, THUMB_SIDE / max(first.shape[:2]), quality=75)
        self._thumbs.put(key, data)
        return data

    def _first_video_frame(self, entry: Entry) -> np.ndarray:
        video = self._videos.get(entry.key)
        if video is not None:
            return _decode_jpeg(video.jpegs[0])
        probe_video(entry.source, self.options.max_pixels, self.options.max_duration)
        frames = read_frames(entry.source)
        try:
            return next(iter(frames)).rgb
        except StopIteration:
            raise BlindspotError("the video has no frames") from None
        finally:
            frames.close()

    def _small_photo(self, entry: Entry) -> np.ndarray:
        frames = self._photos.get(entry.key)
        if frames is not None:
            return frames[0]
        image = open_image(entry.source, self.options.max_pixels)
        try:
            image.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode at 1/2…1/8
            return np.array(ImageOps.exif_transpose(image).convert("RGB"))
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise BlindspotError(f"cannot decode image: {e}") from None
        finally:
            image.close()

    def frame(self, key: str, index: int, anonymized: bool) -> bytes:
        """Frame `index` as the page shows it; `anonymized`: covered as the export will be."""
        entry = self.entry(key)
        review = entry.review
        if entry.kind == "sound":
            raise NotFound(key)
        if entry.status != "ready" or review is None:
            raise NotLoaded(key)
        index = min(max(0, index), review.frames - 1)
        if entry.kind == "video":
            video = self._media(entry)
            stored = min(index // video.step, len(video.jpegs) - 1)
            if not anonymized:
                return video.jpegs[stored]
            rgb = _decode_jpeg(video.jpegs[stored])
            found, modes = review.detections_at(index)
            redact(rgb, found.scaled(video.scale, video.scale), review.mode,
                   self.options.mask_scale, seed=index, modes=modes)
            return _jpeg(rgb, 1.0)
        frames = self._media(entry)
        rgb = frames[min(index, len(frames) - 1)]
        if anonymized:
            found, modes = review.detections_at(index)
            rgb = redact(np.array(rgb, copy=True), found, review.mode, self.options.mask_scale,
                         modes=modes)
        return _jpeg(rgb, min(1.0, DISPLAY_SIDE / max(rgb.shape[:2])), quality=90)

    def face_thumbnail(self, key: str, face_id: str, sample: int) -> bytes:
        """A crop of face (or text) `face_id` (with some of its surroundings) at sample `sample` of
        `FACE_SAMPLES`, spread evenly over the frames it is covered in."""
        entry = self.entry(key)
        review = entry.review
        if entry.kind == "sound":
            raise NotFound(key)
        if entry.status != "ready" or review is None:
            raise NotLoaded(key)
        face = next((f for f in review.faces if f.id == face_id), None)
        if face is None:
            raise NotFound(face_id)
        sample = min(max(0, sample), FACE_SAMPLES - 1)
        index = face.start + round((face.end - face.start) * sample / (FACE_SAMPLES - 1))
        box = face.box_at(index)
        if entry.kind == "video":
            video = self._media(entry)
            rgb = _decode_jpeg(video.jpegs[min(index // video.step, len(video.jpegs) - 1)])
            box = box * video.scale
        else:
            rgb = self._media(entry)[index]
        x1, y1, x2, y2 = box
        # a face with some of its surroundings; a line of text with a little room around it;
        # a person with a little
        pad = {"face": 0.3 * max(x2 - x1, y2 - y1), "person": 0.05 * (y2 - y1)}.get(
            face.kind, 0.5 * (y2 - y1))
        height, width = rgb.shape[:2]
        crop = rgb[max(0, int(y1 - pad)):min(height, int(y2 + pad) + 1),
                   max(0, int(x1 - pad)):min(width, int(x2 + pad) + 1)]
        if crop.size == 0:
            crop = np.zeros((8, 8, 3), np.uint8)
        if entry.kind == "video" and video.aspect != 1:  # as displayed
            crop = resize(crop, *square_stretch(video.aspect))
        side = TEXT_THUMB_SIDE if face.kind in ("plate", "text") else FACE_THUMB_SIDE
        return _jpeg(crop, side / max(crop.shape[:2]), quality=80)

    def _media(self, entry: Entry):
        """The decoded pictures of a loaded file (decoded again if the cache let them go)."""
        cache = self._videos if entry.kind == "video" else self._photos
        media = cache.get(entry.key)
        if media is None:
            media = self._load_video(entry) if entry.kind == "video" else self._load_photo(entry)
        return media

    # ------------------------------------------------------------------ export

    def start_export(self, keys: list[str] | None, overwrite: bool) -> ExportJob:
        """Write the outputs of `keys` (default: every file) in a worker thread."""
        keys = list(self.entries) if keys is None else keys
        for key in keys:
            self.entry(key)
        with self._lock:
            if self.export is not None and self.export.running:
                raise RuntimeError("an export is already running")
            self.export = ExportJob(keys)
        threading.Thread(target=self._export, args=(self.export, overwrite),
                         name="blindspot-export", daemon=True).start()
        return self.export

    def _export(self, job: ExportJob, overwrite: bool) -> None:
        results: list[FileResult] = []
        options = replace(self.options, overwrite=overwrite)
        for key in job.keys:
            entry = self.entries[key]
            job.current = entry.source.name
            try:
                results.append(self.export_file(entry, options))
                entry.exported = True
                job.written.append(entry.output.name)
            except BlindspotError as e:
                job.errors.append(str(e))
            except Exception as e:  # noqa: BLE001 - one file's bug must not stop the export
                job.errors.append(f"{entry.source}: internal error ({type(e).__name__}: {e})")
            job.done += 1
        if self.report is not None and results:
            try:
                write_report(self.report, results, self.options, self.report_hashes)
            except (OSError, BlindspotError) as e:
                job.errors.append(f"{self.report}: cannot write the report: {e}")
        job.current = ""
        job.running = False

    def export_file(self, entry: Entry, options: Options) -> FileResult:
        """Anonymize one file with its reviewed faces (or, never opened and never saved, with
        the faces found now, as `blindspot FILE` would)."""
        review = entry.review or state.load(entry.output)
        if review is None:
            return anonymize_file(entry.source, entry.output, options)
        if entry.kind == "sound":
            if not review.sound_only:
                raise BlindspotError(f"{entry.source}: its saved review is not a sound's")
            # The reviewer's spans, each its own voice, replace speech detection; the
            # reviewer's lines, their transcription.
            return anonymize_file(entry.source, entry.output, options,
                                  speech=review.speech_edits(),
                                  lines=self._export_lines(entry, review))
        dets, modes = review.detections(left=True)
        if entry.kind == "video":
            options = replace(options, mode=review.mode)
        # A kind the reviewer covered though the session did not (text turned on by hand) is
        # counted as covered, not left out of the counts.
        kept = {face.kind for face in review.faces if face.keep} - options.covered_kinds()
        if kept:
            names = {kind: name for name, kind in MODE_KINDS.items()}
            options = replace(options, cover=(*options.cover, *(names[k] for k in sorted(kept))))
        # The reviewer's speech spans, each its own voice, replace speech detection (none
        # when speech was never looked for: found at export, in the session's voice).
        speech = review.speech_edits() if entry.kind == "video" else None
        lines = self._export_lines(entry, review) if speech is not None else None
        return anonymize_file(entry.source, entry.output, options, dets, modes, speech, lines)

    def export_status(self) -> dict:
        job = self.export
        if job is None:
            return {"running": False, "done": 0, "total": 0}
        return {"running": job.running, "done": job.done, "total": len(job.keys),
                "current": job.current, "errors": job.errors, "written": job.written}

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._transcriber.shutdown(wait=False, cancel_futures=True)


def _span_key(span: state.SpeechSpan) -> SpanKey:
    return round(span.start, 3), round(span.end, 3)


def _batches(keys: list[SpanKey]) -> list[list[SpanKey]]:
    """`keys` in sets of spans that do not overlap (one transcription pass each)."""
    batches: list[list[SpanKey]] = []
    for key in sorted(set(keys)):
        for batch in batches:
            if batch[-1][1] <= key[0]:
                batch.append(key)
                break
        else:
            batches.append([key])
    return batches


def _by_span(keys: list[SpanKey], lines: list[Line]) -> dict[SpanKey, list[Line]]:
    """The lines transcribed for `keys` (spans that do not overlap, in order), each with the
    span it starts in (the last that starts before it: Whisper's times may run past)."""
    out: dict[SpanKey, list[Line]] = {key: [] for key in keys}
    for line in lines:
        key = next((k for k in reversed(keys) if k[0] <= line.start + 1e-6), keys[0])
        out[key].append(line)
    return out


def _keep_lines(old: Review, review: Review) -> None:
    """Spans that the page sent without lines (it had not heard of them yet) keep those that
    the same span (its id and times) has on the server."""
    known = {(s.id, _span_key(s)): s.lines for s in old.speech if s.lines is not None}
    for span in review.speech:
        if span.lines is None:
            span.lines = known.get((span.id, _span_key(span)))


def _marks(review: Review) -> dict[str, list[list[list]]]:
    """For each span with lines: each line's words to check (`words.sensitive_words`)."""
    return {span.id: [[list(m) for m in sensitive_words(line.text)] for line in span.lines]
            for span in review.speech if span.lines is not None}


def _with_marks(data: dict) -> dict:
    """A review's JSON for the page: each line with its words to check (`marks`)."""
    for span in data.get("speech", []):
        for line in span.get("lines", []):
            line["marks"] = [list(m) for m in sensitive_words(line["text"])]
    return data


def _jpeg(rgb: np.ndarray, scale: float, quality: int = JPEG_QUALITY) -> bytes:
    image = Image.fromarray(rgb)
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))
