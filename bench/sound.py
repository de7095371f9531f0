"""Sound benchmark: does `--voice mute` let any of a voice through, in any sound file?

On `../shared/data/voice` (36 speakers, 353 clips of read speech; `speakers.tsv`). The speakers
are in two parts: "tune" (the 12 speakers there before, on which the speech finder's settings
were chosen) and "held-out" (the 24 added later: vcc2016 SF2/SF3/SM2/TM2 and speechocean762,
never looked at while choosing). Each table has a row per part; trust the held-out one.

1. `finder` — recall of the speech finder (`blindspot.audio.speech`, as `--voice` runs it).
   The reference is each clip's own clean speech: its 20-ms frames at least 20 (30) dB over
   the clip's noise floor (its 10th-percentile frame level). Read-speech corpora hold little
   else that loud, so these are the voice's audible frames: corpus-aligned by construction,
   not the finder agreeing with itself. A frame is missed when no span covers it. Scenes,
   each built from every clip (seeded by its name):
   - `as is`: the clip (LibriSpeech clips start and end mid-breath: speech at both edges);
   - `cut`: the clip cut at a loud frame of its first third and one of its last third (a word
     cut at the first and the last sample);
   - `word at end` / `word at start`: 0.15–0.4 s of it (from a loud frame: a "yes", half a
     name) after / before 3 s of quiet pink noise;
   - `quiet in noise`: the clip 12 dB quieter in pink noise 10 dB under its speech level,
     with 1 s of noise on each side; the reference is the frames where the speech is at least
     as loud as the noise (buried frames cannot be heard).
   Cost: the share of the added noise (frames with no speech at all) that is muted.
2. `files` — every clip as a sound file, in WAV (as given, 16-bit) and made into M4A (AAC),
   MP3 and Ogg Opus with an artist, a comment and a location tag (MP3 and M4A also a cover
   picture), anonymized with `--voice mute`. Per output: 20-ms frames that still carry the
   original's speech (the output within 3 dB of the original where the original is at least
   30 dB over its noise floor), identifying tags exiftool still reads (`blindspot.residue`),
   and the length against the original's in frames of the codec (AAC 1024 samples, MP3 1152,
   Opus 960 at 48 kHz, WAV 1).
3. `audit` — `blindspot audit OUT --original IN` on the same files: the share of correct mute
   outputs that PASS, and of untouched copies (the input re-encoded with `--voice keep`) and
   planted leaks (the mute output with the original's last 200 ms of speech pasted back) that
   FAIL: the 200 ms that end with the last audible frame of the speech (the model's spans end
   in the decay after it, which is no leak to hear).

    python bench/sound.py [FOLDER] [--part tune|held-out|all] [--only finder,files,audit]
                          [--limit N]

CPU: about 0.1 s per clip for `finder`, 1 s per clip and format for `files`, 2 s for `audit`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

import blindspot
from blindspot.audio.speech import RATE, SpeechSettings, speech_spans
from blindspot.media.sound import read_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from soundfiles import TAGS, write_sound  # noqa: E402 - the tests' sound file writer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "voice"
FRAME = 0.02  # seconds: the frames compared
# The speakers added after the finder's settings were chosen (speakers.tsv; data README).
HELD_OUT = ("so762-", "vcc2016-SF2", "vcc2016-SF3", "vcc2016-SM2", "vcc2016-TM2")
FORMATS = (".wav", ".m4a", ".mp3", ".ogg")
CODEC_FRAME = {".wav": 1, ".m4a": 1024, ".mp3": 1152, ".ogg": 960}


@dataclass
class Clip:
    path: Path
    speaker: str
    part: str


def clips(folder: Path, part: str, limit: int | None) -> list[Clip]:
    rows = list(csv.DictReader(open(folder / "speakers.tsv", encoding="utf-8"), delimiter="\t"))
    out = []
    for row in rows:
        which = "held-out" if row["speaker"].startswith(HELD_OUT) else "tune"
        if part in ("all", which):
            out.append(Clip(folder / row["file"], row["speaker"], which))
    if limit:  # an even spread over the speakers
        out = out[::max(1, len(out) // limit)][:limit]
    return out


def levels(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """The level of each 20-ms frame of `x`, dB."""
    n = int(FRAME * rate)
    frames = len(x) // n
    power = np.mean(np.square(x[:frames * n].reshape(frames, n), dtype=np.float64), axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def load(path: Path) -> np.ndarray:
    return np.concatenate(list(read_audio(path, RATE)) or [np.zeros(0, np.float32)])


def pink(n: int, level_db: float, rng: np.random.Generator) -> np.ndarray:
    white = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    noise = np.fft.irfft(white / np.sqrt(np.maximum(f, 20.0)), n)
    noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
    return (noise * 10 ** (level_db / 20)).astype(np.float32)


# ---------------------------------------------------------------------------- 1. finder


def scenes(x: np.ndarray, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name → (the sound, its clean speech alone, the mask of its added-noise samples)."""
    rng = np.random.default_rng(seed)
    n = int(FRAME * RATE)
    lv = levels(x)
    loud = np.nonzero(lv >= np.percentile(lv, 10) + 30)[0] * n
    if len(loud) < 3:
        return {}
    none = np.zeros(0, bool)
    out = {"as is": (x, x, np.zeros(len(x), bool))}
    third = len(x) // 3
    first = loud[loud < third]
    last = loud[loud > 2 * third]
    if len(first) and len(last):
        a, b = int(rng.choice(first)), int(rng.choice(last)) + n
        out["cut"] = (x[a:b], x[a:b], np.zeros(b - a, bool))
    start = int(rng.choice(loud[loud < len(x) - int(0.4 * RATE)] if
                           (loud < len(x) - int(0.4 * RATE)).any() else loud[:1]))
    word = x[start:start + int(rng.uniform(0.15, 0.4) * RATE)]
    floor_db = -50.0
    bed = pink(3 * RATE, floor_db, rng)
    silent = np.zeros(len(bed), np.float32)
    out["word at end"] = (np.concatenate([bed, word]), np.concatenate([silent, word]),
                          np.concatenate([np.ones(len(bed), bool), np.zeros(len(word), bool)]))
    out["word at start"] = (np.concatenate([word, bed]), np.concatenate([word, silent]),
                            np.concatenate([np.zeros(len(word), bool), np.ones(len(bed), bool)]))
    quiet = x * 10 ** (-12 / 20)
    speech_db = 10 * np.log10(np.mean(quiet[quiet != 0] ** 2) + 1e-12)
    pad = np.zeros(RATE, np.float32)
    speech = np.concatenate([pad, quiet, pad])
    noise = pink(len(speech), speech_db - 10, rng)
    mask = np.concatenate([np.ones(RATE, bool), np.zeros(len(quiet), bool), np.ones(RATE, bool)])
    out["quiet in noise"] = (speech + noise, speech, mask)
    del none
    return out


def finder(selected: list[Clip], settings: SpeechSettings) -> None:
    rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    started = time.process_time()
    seconds = 0.0
    for clip in selected:
        x = load(clip.path)
        seed = int.from_bytes(hashlib.sha256(clip.path.name.encode()).digest()[:4], "big")
        for name, (sound, speech, noise) in scenes(x, seed).items():
            spans = speech_spans(sound, RATE, settings)
            seconds += len(sound) / RATE
            n = len(levels(sound))
            t = (np.arange(n) + 0.5) * FRAME
            covered = np.zeros(n, bool)
            for span in spans:
                covered |= (t >= span.start) & (t < span.end)
            clean = levels(speech)[:n]
            floor = np.percentile(levels(x), 10)
            if name == "quiet in noise":
                noise_lv = levels(sound - speech)[:n]
                ref20 = ref30 = (clean >= noise_lv) & (clean >= floor + 20 - 12)
            else:
                ref20, ref30 = clean >= floor + 20, clean >= floor + 30
            frames_noise = noise[:n * int(FRAME * RATE)].reshape(n, -1).all(axis=1)
            row = rows[(clip.part, name)]
            row[0] += int((ref20 & ~covered).sum())
            row[1] += int(ref20.sum())
            row[2] += int((ref30 & ~covered).sum())
            row[3] += int(ref30.sum())
            row[4] += int((frames_noise & covered).sum())
            row[5] += int(frames_noise.sum())
    cpu = time.process_time() - started
    print(f"\n## finder: speech frames missed (settings: {settings})\n")
    print("| part | scene | missed ≥ 20 dB | missed ≥ 30 dB | recall ≥ 30 dB | noise muted |")
    print("|---|---|---|---|---|---|")
    for (part, name), r in sorted(rows.items()):
        recall = 1 - r[2] / r[3] if r[3] else float("nan")
        muted = f"{r[4] / r[5]:.3f}" if r[5] else "–"
        print(f"| {part} | {name} | {r[0]} of {r[1]} | {r[2]} of {r[3]} | {recall:.4f} | "
              f"{muted} |")
    print(f"\nCPU {cpu:.1f} s for {seconds:.0f} s of sound ({cpu / seconds * 60:.2f} s a minute)")


# ---------------------------------------------------------------------------- 2. files


def make_input(clip: Path, suffix: str, folder: Path) -> Path:
    """`clip` as a sound file with `suffix`: WAV as given, the rest encoded at 64 kb/s with
    TAGS (and, for MP3 and M4A, a cover picture)."""
    out = folder / f"{clip.stem}{suffix}"
    if suffix == ".wav" and clip.suffix == ".wav":
        shutil.copyfile(clip, out)
        return out
    with av.open(str(clip)) as src:
        rate = src.streams.audio[0].codec_context.sample_rate
    samples = np.concatenate(list(read_audio(clip, rate)))
    return write_sound(out, samples, rate, TAGS)


def leaked_frames(original: np.ndarray, output: np.ndarray) -> int:
    """20-ms frames where the output is within 3 dB of the original where the original is at
    least 30 dB over its noise floor."""
    a, b = levels(original), levels(output)
    n = min(len(a), len(b))
    loud = a[:n] >= np.percentile(a, 10) + 30
    return int((loud & (np.abs(b[:n] - a[:n]) <= 3)).sum())


def codec_length(path: Path) -> tuple[int, int]:
    """(samples decoded at the file's own rate, that rate)."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(s))
        return n, s.codec_context.sample_rate


def files(selected: list[Clip], work: Path) -> list[tuple[Clip, str, Path, Path]]:
    from blindspot.media.residue import exiftool_available, exiftool_tags, identifying_tags
    made = []
    stats: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0.0])
    for clip in selected:
        for suffix in FORMATS:
            src = make_input(clip.path, suffix, work)
            out = work / f"{clip.path.stem}.anon{suffix}"
            started = time.process_time()
            blindspot.anonymize_file(src, out, blindspot.Options(voice="mute", overwrite=True))
            row = stats[(clip.part, suffix)]
            row[6] += time.process_time() - started
            row[0] += 1
            leaks = leaked_frames(load(src), load(out))
            row[1] += leaks
            row[2] += leaks > 0
            if exiftool_available():
                row[3] += len(identifying_tags(exiftool_tags(out)))
                row[4] += bool(identifying_tags(exiftool_tags(src)))
            (n_in, rate_in), (n_out, rate_out) = codec_length(src), codec_length(out)
            frame = CODEC_FRAME[suffix] * (rate_in / 48000 if suffix == ".ogg" else 1)
            off = abs(n_out / rate_out - n_in / rate_in) * rate_in / frame
            row[5] = max(row[5], off)
            made.append((clip, suffix, src, out))
    print("\n## files: --voice mute on sound files\n")
    print("| part | format | files | leaked frames | files with a leak | tags left (inputs "
          "tagged) | length off, codec frames (max) | CPU s a file |")
    print("|---|---|---|---|---|---|---|---|")
    for (part, suffix), r in sorted(stats.items()):
        print(f"| {part} | {suffix} | {r[0]} | {r[1]} | {r[2]} | {r[3]} ({r[4]}) | "
              f"{r[5]:.2f} | {r[6] / r[0]:.2f} |")
    return made


# ---------------------------------------------------------------------------- 3. audit


def audit(made: list[tuple[Clip, str, Path, Path]], work: Path) -> None:
    from blindspot.audit.sound import check_sound
    stats: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for clip, suffix, src, out in made:
        row = stats[(clip.part, suffix)]
        row[0] += 1
        row[1] += check_sound(out, src).passed
        kept = work / f"{clip.path.stem}.kept{suffix}"
        blindspot.anonymize_file(src, kept, blindspot.Options(voice="keep", overwrite=True))
        row[2] += 1
        row[3] += not check_sound(kept, src).passed
        planted = plant(src, out, work / f"{clip.path.stem}.planted.wav")
        if planted is not None:
            row[4] += 1
            row[5] += not check_sound(planted, src).passed
    print("\n## audit: blindspot audit OUT --original IN (sound)\n")
    print("| part | format | mute outputs PASS | untouched copies FAIL | planted leaks FAIL |")
    print("|---|---|---|---|---|")
    for (part, suffix), r in sorted(stats.items()):
        print(f"| {part} | {suffix} | {r[1]} of {r[0]} | {r[3]} of {r[2]} | {r[5]} of {r[4]} |")


def plant(src: Path, muted: Path, out: Path) -> Path | None:
    """The muted output (as WAV at 16 kHz) with the original's last 200 ms of speech pasted
    back: the 200 ms that end with the last audible frame (20 dB over the noise floor) of the
    model's last speech span (the span itself ends in the decay); None when the original has
    no speech."""
    original, output = load(src), load(muted)
    # the model's own spans: no padding, growing, edge or weak spans (they reach into silence)
    spans = speech_spans(original, RATE, SpeechSettings(pad=0, merge_gap=0, grow=0, edges=0,
                                                        weak=0))
    if not spans:
        return None
    lv = levels(original)
    n = int(FRAME * RATE)
    first, last = int(spans[-1].start / FRAME), min(len(lv), int(spans[-1].end / FRAME) + 1)
    loud = np.nonzero(lv[first:last] >= np.percentile(lv, 10) + 20)[0]
    if not len(loud):
        return None
    end = min((first + int(loud[-1]) + 1) * n, len(original), len(output))
    start = max(0, end - round(0.2 * RATE))
    output = output.copy()
    output[start:end] = original[start:end]
    with av.open(str(out), "w", format="wav") as dst:
        stream = dst.add_stream("pcm_s16le", rate=RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((np.clip(output, -1, 1) * 32767).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--part", choices=("tune", "held-out", "all"), default="all")
    parser.add_argument("--only", default="finder,files,audit")
    parser.add_argument("--limit", type=int, default=None, help="at most N clips")
    args = parser.parse_args()
    if not (args.folder / "speakers.tsv").exists():
        print(f"no voice data in {args.folder}", file=sys.stderr)
        return 2
    selected = clips(args.folder, args.part, args.limit)
    parts = args.only.split(",")
    print(f"{len(selected)} clips ({args.part})")
    if "finder" in parts:
        finder(selected, SpeechSettings())
    with tempfile.TemporaryDirectory(prefix="blindspot-sound-bench-") as tmp:
        if "files" in parts or "audit" in parts:
            made = files(selected, Path(tmp))
            if "audit" in parts:
                audit(made, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
