"""Coverage-guided fuzzing (atheris) of the code of blindspot that parses untrusted bytes.

    pip install -e '.[fuzz]' && python fuzz/seeds.py
    python fuzz/fuzz.py TARGET fuzz/corpus/TARGET -max_total_time=600 -timeout=10 -rss_limit_mb=3072

Targets, and what each must never do (anything else is a crash that libFuzzer saves as
`crash-*` in the current folder; replay one with `python fuzz/fuzz.py TARGET crash-…`):

- jpeg, png, webp, gif: `blindspot.media.strip.strip_metadata` (the `clean` command's container
  rewriters) raises `StripError` or returns bytes that it strips again to the same bytes
  (its output is clean and well-formed), and that decode whenever the input decodes.
- icc: `blindspot.media.strip.icc.scrub_icc` raises `StripError` or returns a profile of the size
  its header declares, with the same header signature, that scrubs again to itself and that
  LittleCMS loads whenever it loaded the input.
- source: `blindspot.media.photo_source.read_photo` (Pillow's decoders behind blindspot's own
  PNG check, `_check_png`, the EXIF orientation and the colour conversions) raises
  `BlindspotError` or returns upright 8-bit RGB frames of one size.
- sound: `blindspot.media.sound` (FFmpeg's WAV, FLAC, MP3, Ogg, ADTS and MP4 demuxers and their
  audio decoders behind blindspot's checks) on a file named `.wav`, `.flac`, `.mp3`, `.m4a`
  or `.ogg` (the first byte picks): `probe_sound` and `transcode_sound` (into WAV, with a mute
  over the first half) raise `BlindspotError` or write a WAV that decodes to the number of
  samples written, at the probed rate, and `read_audio` gives finite float32 samples.
- options: the command line (`blindspot.cli.build_parsers` and `Options`): a bad argument
  list ends in argparse's exit 2 or a `ValueError` (exit 2), never another exception, and
  whatever is accepted is a setting in range (finite, positive limits).
- report: `blindspot.report.write_report` writes strict JSON (no NaN/Infinity) in UTF-8,
  whatever the file names, frame counts, boxes and scores, or raises `BlindspotError`.
  blindspot never reads a report back: the writer is the only report code there is.
- review: the review page's saved state (`blindspot.review.state.Review.from_json`) raises
  `StateError` or gives a review that survives saving and loading unchanged, in strict JSON,
  whose boxes to cover are finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["blindspot"]):
    from blindspot import cli
    from blindspot.detections import Detections
    from blindspot.errors import BlindspotError
    from blindspot.media import photo_source, sound
    from blindspot.media.strip import StripError, gif, jpeg, png, strip_metadata, webp  # noqa: F401
    from blindspot.media.strip.icc import scrub_icc
    from blindspot.options import Options
    from blindspot.review import state  # noqa: F401 - instrumented for the review target
    from blindspot.run import report
    from blindspot.run.pipeline import FileResult

import numpy as np
from PIL import Image, ImageCms

warnings.simplefilter("ignore")  # Pillow's warnings about damaged files are not findings
SCRATCH = Path(tempfile.mkdtemp(prefix="blindspot-fuzz-", dir="/dev/shm"
                                if os.path.isdir("/dev/shm") else None))
MAX_DECODE_PIXELS = 1 << 20


def _decodes(data: bytes, fmt: str, frames: int = 8) -> bool:
    """Whether Pillow decodes `data` as `fmt` (small pictures only: the guard is not tested)."""
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            if image.size[0] * image.size[1] > MAX_DECODE_PIXELS:
                return False
            for index in range(min(getattr(image, "n_frames", 1), frames)):
                image.seek(index)
                image.load()
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not decode"
        return False


def _pillow_misreads(data: bytes, fmt: str) -> bool:
    """Whether Pillow misreads this GIF: a NETSCAPE2.0 extension with no sub-block after its
    name makes it read past the block's terminator and skip the next block as data, so it sees
    another picture than other decoders (and than itself once `strip` drops that block; `clean`
    then refuses the file, as it checks that the output decodes). Found by this fuzzer; the
    stripped file holds nothing the input did not."""
    if fmt != "GIF":
        return False
    for found in re.finditer(rb"\x21\xff([\x0b-\xff])NETSCAPE2\.0", data):
        end = found.start() + 3 + found.group(1)[0]
        if end < len(data) and data[end] == 0:
            return True
    return False


def strip_target(fmt: str) -> Callable[[bytes], None]:
    def one(data: bytes) -> None:
        try:
            out = strip_metadata(data, fmt)
        except StripError:
            return
        assert isinstance(out, bytes)
        again = strip_metadata(out, fmt)  # its own output must parse: no StripError here
        assert again == out, "stripping the stripped output changed it again"
        if _decodes(data, fmt) and not _pillow_misreads(data, fmt):
            assert _decodes(out, fmt), "the input decodes, the stripped output does not"
    return one


def _lcms_loads(profile: bytes) -> bool:
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return True
    except Exception:  # noqa: BLE001
        return False


def icc_target(data: bytes) -> None:
    try:
        out = scrub_icc(data)
    except StripError:
        return
    assert len(out) == int.from_bytes(data[:4], "big"), "size differs from the header's"
    assert out[36:40] == b"acsp"
    assert scrub_icc(out) == out, "scrubbing the scrubbed profile changed it again"
    if _lcms_loads(data):
        assert _lcms_loads(out), "LittleCMS loads the input profile but not the scrubbed one"


def source_target(data: bytes) -> None:
    path = SCRATCH / "input"
    path.write_bytes(data)
    try:
        photo = photo_source.read_photo(path, max_pixels=MAX_DECODE_PIXELS, max_frames=16)
    except BlindspotError:
        return
    assert photo.frames, "no frames"
    shape = photo.frames[0].shape
    for rgb, alpha in zip(photo.frames, photo.alphas, strict=True):
        assert rgb.dtype.name == "uint8" and rgb.ndim == 3 and rgb.shape[2] == 3
        assert rgb.shape == shape, "frames of different sizes"
        assert alpha is None or alpha.shape == shape[:2]


_SOUND_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg")


def sound_target(data: bytes) -> None:
    if not data:
        return
    path = SCRATCH / f"input{_SOUND_SUFFIXES[data[0] % len(_SOUND_SUFFIXES)]}"
    path.write_bytes(data[1:])
    try:
        info = sound.probe_sound(path, max_duration=60.0)
        for chunk in sound.read_audio(path, 16000):
            assert chunk.dtype.name == "float32" and np.isfinite(chunk).all()
        from blindspot.audio.edit import SpanEditor
        from blindspot.audio.speech import Span
        out = io.BytesIO()
        seconds = sound.transcode_sound(
            path, out, ".wav",
            lambda rate: SpanEditor([(Span(0.0, info.duration / 2 or 0.1), "mute")], rate))
    except BlindspotError:
        return
    import av
    with av.open(io.BytesIO(out.getvalue()), format="wav") as written:
        stream = written.streams.audio[0]
        assert stream.codec_context.sample_rate == info.rate
        samples = sum(frame.samples for frame in written.decode(stream))
    assert abs(samples - round(seconds * info.rate)) <= 1, "written length is not the length"


_PARSERS = cli.build_parsers()
_FIELDS = {f.name for f in dataclasses.fields(Options)}


def _options(args: object) -> Options:
    """`Options` from parsed arguments, as the commands build them (same names, plus --force
    and --no-audio)."""
    given = {k: v for k, v in vars(args).items() if k in _FIELDS}
    given["overwrite"] = getattr(args, "force", False)
    given["keep_audio"] = not getattr(args, "no_audio", False)
    if "threads" in given:
        given["threads"] = given["threads"] or 0  # as the CLI does: unset means 0
    return Options(**given)


def options_target(data: bytes) -> None:
    argv = [a.decode("utf-8", "surrogateescape") for a in data.split(b"\0")]
    command = argv[0] if argv and argv[0] in cli.COMMANDS else "anonymize"
    rest = argv[1:] if command != "anonymize" else argv
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            args = _PARSERS[command].parse_args(rest)
    except SystemExit as e:
        assert e.code in (0, 2), e.code  # 0: --help or --version
        return
    if command not in ("anonymize", "clean", "detect"):
        return
    try:
        options = _options(args)
    except ValueError:  # the CLI turns it into one line and exit 2
        return
    assert 0 < options.threshold < 1 and math.isfinite(options.threshold)
    assert 1 <= options.mask_scale <= 4
    assert options.max_pixels >= 1 and options.max_frames >= 1
    assert 0 < options.max_duration < math.inf
    assert 0 <= options.crf <= 51 and 1 <= options.detect_every <= 30


def report_target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    results = []
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        name = fdp.ConsumeUnicodeNoSurrogates(40) or "x"
        frames = []
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            count = fdp.ConsumeIntInRange(0, 3)
            # Only finite float32 values: `redact` refuses a file with any other box before
            # its result (and so the report) exists (see tests/test_corpus.py).
            values = [fdp.ConsumeFloatInRange(-3e38, 3e38) for _ in range(5 * count)]
            boxes = [values[i:i + 4] for i in range(0, 4 * count, 4)]
            frames.append(Detections(boxes, values[4 * count:]))
        results.append(FileResult(Path(name), SCRATCH / name.replace("/", "_")[:100],
                                  faces=fdp.ConsumeIntInRange(0, 10), frames=len(frames) or 1,
                                  metadata_removed=[fdp.ConsumeUnicodeNoSurrogates(10)],
                                  detections=frames))
    path = SCRATCH / "report.json"
    try:
        report.write_report(path, results, Options())
    except BlindspotError:
        return

    def strict(constant: str) -> None:
        raise AssertionError(f"report is not strict JSON: {constant}")

    loaded = json.loads(path.read_bytes().decode("utf-8"), parse_constant=strict)
    assert [f["output"] for f in loaded["files"]] == [r.output.name for r in results]


def review_target(data: bytes) -> None:
    from blindspot.review.state import Review, StateError

    try:
        loaded = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return
    try:
        review = Review.from_json(loaded)
    except StateError:
        return
    saved = json.dumps(review.to_json(), allow_nan=False)  # what `state.save` writes
    again = Review.from_json(json.loads(saved))
    # Saving rounds coordinates to 0.1 px (by design); nothing else may change, and a second
    # save gives the same file.
    assert json.dumps(again.to_json(), allow_nan=False) == saved, "save is not stable"
    assert len(again.faces) == len(review.faces)
    for a, b in zip(again.faces, review.faces, strict=True):
        assert (a.id, a.keep, a.mode, a.start, a.end) == (b.id, b.keep, b.mode, b.start, b.end)
        assert np.allclose(np.array(a.keys), np.array(b.keys), atol=0.0501, rtol=0)
    for frame in (0, review.frames // 2, review.frames - 1):
        dets, modes = review.detections_at(frame)
        assert len(dets) == len(modes) and np.isfinite(dets.boxes).all()
    if review.frames <= 2_000:
        dets_all, modes_all = review.detections()
        assert len(dets_all) == len(modes_all) == review.frames


TARGETS: dict[str, Callable[[bytes], None]] = {
    "jpeg": strip_target("JPEG"), "png": strip_target("PNG"), "webp": strip_target("WEBP"),
    "gif": strip_target("GIF"), "icc": icc_target, "source": source_target,
    "options": options_target, "report": report_target, "review": review_target,
    "sound": sound_target,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer arguments]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
