"""The `blindspot` command: a thin layer over the Python API.

`blindspot FILE_OR_DIR…` anonymizes; the other commands are named in `COMMANDS`, each with the
one line `blindspot --help` shows for it and one example that ends its own help.

Over 400 lines, on purpose: one argparse definition per command (six, with their help and
examples) and their thin handlers; nothing here decides what the API does not.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .detect.onnx import DEVICES, providers
from .errors import BlindspotError
from .media.atomic import atomic_output
from .media.photo_sink import PHOTO_EXTENSIONS
from .media.sound import is_sound
from .options import (
    COVER,
    DEFAULT_SOUND_VOICE,
    DEFAULT_VIDEO_VOICE,
    MODES,
    VOICES,
    Options,
    parse_cover,
    parse_modes,
)
from .run.batch import Progress, Task, available_cores, run_local, split_done
from .run.outputs import MEDIA_EXTENSIONS, plan_outputs
from .run.pipeline import FileResult, detect_file, detect_speech, is_video
from .run.report import write_report
from .wording import count, install_hint

# Each command: (what it does, in one line; one example). `blindspot --help` lists them all.
COMMANDS: dict[str, tuple[str, str]] = {
    "detect": ("print the boxes (and speech spans) that would be covered, as JSON",
               "blindspot detect photo.jpg --json"),
    "clean": ("remove metadata only, pixels untouched (photos without people)",
              "blindspot clean landscape.jpg"),
    "demo": ("anonymize a bundled example photo and say where both are",
             "blindspot demo --cover text"),
    "audit": ("attack outputs: faces, re-identification, text, people, voices; PASS or FAIL",
              "blindspot audit photo.anon.jpg --original photo.jpg"),
    "review": ("check every face and speech span in a local web page, then export",
               "blindspot review march.mp4 photos/"),
    "cluster": ("anonymize on a Ray cluster, each file one task",
                "blindspot cluster /mnt/archive -o /mnt/archive-anon --address auto"),
}
ANONYMIZE_EXAMPLE = "blindspot march.mp4 --cover plates --voice mute -o out/"


def _epilog(command: str | None) -> str:
    """The end of a command's help: its example (and, for `blindspot` itself, the commands)."""
    if command is None:
        width = max(map(len, COMMANDS)) + 2
        lines = ["commands (blindspot COMMAND --help for each):",
                 *(f"  {name:<{width}}{line}" for name, (line, _) in COMMANDS.items()),
                 "", "example:", f"  {ANONYMIZE_EXAMPLE}"]
        return "\n".join(lines)
    return f"example:\n  {COMMANDS[command][1]}"


# What each bundled model finds (a model not named here is listed all the same).
MODEL_ROLES = {"centerface.onnx": "faces", "ppocrv4_det.onnx": "text and plates",
               "ppocrv4_rec.onnx": "reading text (the audit)", "yolox_nano.onnx": "people",
               "silero_vad.onnx": "speech", "ge2e_speaker.onnx": "speakers (revoice, the audit)"}


def _version() -> str:
    """`blindspot --version`: the version and the bundled models (src/blindspot/models)."""
    from importlib import resources
    models = sorted(f.name for f in resources.files("blindspot.models").iterdir()
                    if f.name.endswith(".onnx"))
    width = max(map(len, models), default=0) + 2
    return "\n".join([f"blindspot {__version__}",
                      "bundled models (sources, licences, SHA-256s: models/README.md):",
                      *(f"  {m:<{width}}{MODEL_ROLES.get(m, '')}".rstrip() for m in models)])


class _Parser(argparse.ArgumentParser):
    """One-line errors; the description and epilog as written (the epilog is the example)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        print(f"blindspot: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual, the epilog (commands, example) kept line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, default=Options.threshold,
                        help=f"detection threshold, lower finds more (default {Options.threshold})")
    parser.add_argument("--keep-weak", action="store_true",
                        help="cover every weak face box, even one nothing supports (more false "
                             "blots, no weak face dropped; see docs/phantoms.md)")
    _limits(parser)


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-pixels", type=int, default=Options.max_pixels,
                        help=f"refuse images and video frames larger than this many pixels "
                             f"(default {Options.max_pixels:,})")
    parser.add_argument("--max-frames", type=int, default=Options.max_frames,
                        help=f"refuse animated images with more frames (default "
                             f"{Options.max_frames})")


def _outputs(parser: argparse.ArgumentParser, suffix: str) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help=f"output file, or folder for several inputs (default: "
                             f"NAME.{suffix}.EXT beside each input)")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--resume", action="store_true",
                        help="skip inputs whose output exists (complete: outputs are written "
                             "atomically); to finish an interrupted run, give its arguments "
                             "again with --resume")
    parser.add_argument("--workers", type=_positive, metavar="N",
                        help=f"files processed at once, in as many processes (default: one per "
                             f"core, {available_cores()} here)")


COVER_HELP = (f"a comma list of {', '.join(COVER)} (text: all text, plates included; "
              "people: whole people, in filled boxes) "
              f"(default {','.join(Options.cover)})")


def _cover_arg(parser: argparse.ArgumentParser, help: str,
               default: tuple[str, ...] = Options.cover) -> None:
    parser.add_argument("--cover", type=_arg(parse_cover), default=default, metavar="KINDS",
                        help=help)


def _cover(parser: argparse.ArgumentParser, how: str) -> None:
    _cover_arg(parser, f"what to cover: {COVER_HELP}")
    parser.add_argument("--mode", type=_arg(parse_modes), default=(Options.mode, ()),
                        metavar="MODE", help=f"{how}: one of {', '.join(MODES)} for every "
                        f"kind, then KIND=MODE for single kinds, e.g. blur,text=solid "
                        f"(default {Options.mode})")


def _kinds(args: argparse.Namespace) -> dict:
    """The Options fields of `--cover` and `--mode`."""
    mode, kind_modes = args.mode
    return {"cover": args.cover, "mode": mode, "kind_modes": kind_modes}


def _arg(parse: Callable[[str], object]) -> Callable[[str], object]:
    """`parse` as an argparse type: its ValueError becomes argparse's one-line error."""
    def parsed(text: str) -> object:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parsed


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


def _speed(parser: argparse.ArgumentParser) -> None:
    speed = parser.add_argument_group("speed")
    speed.add_argument("--device", choices=DEVICES, default=Options.device,
                       help="where the model runs; auto: cuda when ONNX Runtime's CUDA provider "
                            f"is installed ({install_hint('gpu')}), else cpu (default cpu)")
    speed.add_argument("--threads", type=_positive, metavar="N",
                       help="threads per worker for the model and the video decoder and "
                            "encoder (default: the cores shared out among the workers)")


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    anonymize = _Parser(
        prog="blindspot",
        usage="blindspot FILE_OR_DIR… [options]\n       blindspot COMMAND … (see below)",
        description="Cover every face (with --cover: plates, all text, whole people), mute the "
                    "speech of sound files (--voice for videos) and remove identifying "
                    "metadata from photos, videos and sound files: each FILE is written to "
                    "FILE.anon.EXT beside it (or under -o), never over it.",
        epilog=_epilog(None),
    )
    anonymize.add_argument("--version", action="version", version=_version(),
                           help="print the version and the bundled models, then exit")
    _outputs(anonymize, "anon")
    _cover(anonymize, "how each kind is covered")
    anonymize.add_argument("--mask-scale", type=float, default=Options.mask_scale,
                           help=f"mask size relative to the face box (default "
                                f"{Options.mask_scale})")
    _common(anonymize)
    _speed(anonymize)
    video = anonymize.add_argument_group("video and sound")
    video.add_argument("--crf", type=int, default=Options.crf,
                       help=f"video quality, 0–51, lower is better (default {Options.crf})")
    video.add_argument("--no-audio", action="store_true",
                       help="drop the sound (voices identify people too)")
    video.add_argument("--voice", choices=VOICES, default=None,
                       help="what to do with speech in the sound of videos and sound files: "
                            "keep it (it identifies the speaker), mute it (other sound kept), "
                            "disguise the voice (the words stay; NOT a protection against "
                            "someone with other recordings of the speaker: a speaker "
                            "recognizer still named 1 in 6 of 24 unseen speakers, 4 in 10 of "
                            "5 others; docs/voice.md), "
                            "or revoice it (the words recognized and spoken again by a "
                            "synthetic voice, one per speaker; English only, other languages "
                            f"muted; needs {install_hint('voice')}) (default: "
                            f"{DEFAULT_VIDEO_VOICE} in videos, {DEFAULT_SOUND_VOICE} in sound "
                            "files)")
    video.add_argument("--detect-every", type=int, default=Options.detect_every, metavar="N",
                       help=f"detect on every N-th frame; tracking covers the frames between "
                            f"(default {Options.detect_every})")
    video.add_argument("--max-duration", type=float, default=Options.max_duration,
                       metavar="SECONDS", help="refuse longer videos")
    video.add_argument("--transcript", type=Path, metavar="FILE.srt",
                       help="with --voice revoice and one input: write what the new voices "
                            "say (and where speech was muted) as subtitles")
    report = anonymize.add_argument_group("report")
    report.add_argument("--report", type=Path, metavar="FILE.json",
                        help="write what was covered in each file (settings, model, boxes per "
                             "frame); names files by their output only")
    report.add_argument("--report-hashes", action="store_true",
                        help="also put input names and SHA-256 hashes in the report (they link "
                             "the published file to the original)")

    detect = _Parser(prog="blindspot detect", epilog=_epilog("detect"),
                     description="Print the boxes blindspot would "
                     "find, in displayed pixels: {path: [[x, y, w, h, score, kind], …]} "
                     "(for a video, one such list per frame, after tracking; for a sound "
                     "file, its speech spans: [[start, end, \"speech\"], …] in seconds).")
    detect.add_argument("inputs", nargs="+", metavar="FILE")
    detect.add_argument("--json", action="store_true", help="print JSON (the only format)")
    _cover_arg(detect, f"what to look for: {COVER_HELP}")
    _common(detect)
    detect.add_argument("--max-duration", type=float, default=Options.max_duration,
                        metavar="SECONDS", help="refuse longer videos")

    clean = _Parser(prog="blindspot clean", epilog=_epilog("clean"),
                    description="Remove metadata, keep the picture "
                    "as it is (no re-encoding for JPEG, PNG, WebP and GIF). For photos "
                    "without people.")
    _outputs(clean, "clean")
    _limits(clean)

    demo = _Parser(prog="blindspot demo", epilog=_epilog("demo"),
                   description="Anonymize a bundled example photo (the astronaut Eileen "
                   "Collins, with made-up GPS and camera metadata). Needs "
                   f"{install_hint('demo')}.")
    demo.add_argument("-o", "--output", type=Path, metavar="DIR",
                      help="folder for the example and its result (default: a new temp folder)")
    _cover_arg(demo, f"what to cover: {COVER_HELP}; try text: the astronaut's name tag")
    return {"anonymize": anonymize, "detect": detect, "clean": clean, "demo": demo,
            "audit": _audit_parser(), "cluster": _cluster_parser(anonymize),
            "review": _review_parser()}


def _cluster_parser(anonymize: argparse.ArgumentParser) -> argparse.ArgumentParser:
    cluster = _Parser(prog="blindspot cluster", parents=[anonymize], add_help=False,
                      usage="blindspot cluster FILE_OR_DIR… --address ADDR [options]",
                      epilog=_epilog("cluster"),
                      description="Anonymize on a Ray cluster: each file is one Ray task, "
                      "inputs and outputs on a path every node sees the same. Takes every "
                      f"option of `blindspot`. Needs {install_hint('ray')}.")
    cluster.add_argument("--address", default="auto", metavar="ADDR",
                         help="the cluster: ray://HOST:10001, auto (the one `ray start` "
                              "started here, or RAY_ADDRESS), or local (a new one on this "
                              "machine, --workers CPUs) (default auto)")
    return cluster


def _audit_parser() -> argparse.ArgumentParser:
    from .audit import AuditSettings
    audit = _Parser(prog="blindspot audit", epilog=_epilog("audit"),
                    description="Attack anonymized outputs: look for "
                    "faces with three detectors, try to re-identify the originals' faces with "
                    "dlib's recognizer and the speakers of videos with a speaker recognizer, "
                    "read the text and the metadata left; in sound files, the speech left. "
                    "Exit 0: all PASS, 1: a file FAILs, 2: a file could not be audited. "
                    f"Photos and videos need {install_hint('audit')}.")
    audit.add_argument("outputs", nargs="+", metavar="OUTPUT")
    audit.add_argument("--original", nargs="+", metavar="ORIGINAL", default=[],
                       help="the originals, one per OUTPUT in the same order: adds the "
                            "re-identification attack, and for videos the speaker check (never "
                            "written anywhere)")
    audit.add_argument("--every", type=int, default=None, metavar="N",
                       help="check every N-th frame of a video with every detector (default: "
                            f"a sample: every {AuditSettings.sample_every}th frame, the last, "
                            "and frames where the original's faces appear, jump or are left "
                            "unchanged; see docs/audit.md)")
    _cover_arg(audit, "what the outputs were anonymized to cover (their --cover): readable "
               "text left of those kinds is a FAIL (text: any, plates: plate-like strings; "
               "other readable text is reported), and with people a person found in the "
               "output (default faces)", AuditSettings.cover)
    audit.add_argument("--json", action="store_true", help="print the findings as JSON")
    audit.add_argument("--html", type=Path, metavar="REPORT.html",
                       help="write a self-contained HTML report (shows the outputs only)")
    return audit


def _review_parser() -> argparse.ArgumentParser:
    review = _Parser(prog="blindspot review", epilog=_epilog("review"),
                     description="Check every face and speech span in "
                     "a local web page (127.0.0.1 only, nothing loaded from elsewhere): drop "
                     "false detections, cover missed faces, keep, mute, disguise or revoice "
                     "each stretch of speech (sound files: on their waveform), then export.")
    review.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    review.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="output file, or folder for several inputs (default: "
                             "NAME.anon.EXT beside each input)")
    review.add_argument("--force", action="store_true",
                        help="replace existing outputs on export (the page can change it)")
    review.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-browser", action="store_true",
                        help="print the address only, do not open a browser")
    _cover(review, "the mode of each box until changed")
    review.add_argument("--mask-scale", type=float, default=Options.mask_scale,
                        help=f"mask size relative to the face box (default {Options.mask_scale})")
    _common(review)
    review.add_argument("--crf", type=int, default=Options.crf, help="video quality, 0–51")
    review.add_argument("--no-audio", action="store_true", help="drop the sound of videos")
    review.add_argument("--voice", choices=VOICES, default=None,
                        help="speech in videos and sound files: keep, mute, disguise or "
                             "revoice (see blindspot --help) "
                             f"(default: {DEFAULT_VIDEO_VOICE} in videos, "
                             f"{DEFAULT_SOUND_VOICE} in sound files)")
    review.add_argument("--detect-every", type=int, default=Options.detect_every, metavar="N",
                        help="video: detect on every N-th frame")
    review.add_argument("--report", type=Path, metavar="FILE.json",
                        help="write what each export covered (names outputs only)")
    review.add_argument("--report-hashes", action="store_true",
                        help="also put input names and SHA-256 hashes in the report")
    return review


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parsers = build_parsers()
    if argv[:1] == ["help"] and not os.path.exists("help"):  # blindspot help [COMMAND]
        argv = [*argv[1:2], "--help"]
    command = argv[0] if argv and argv[0] in COMMANDS else "anonymize"
    if command == "anonymize" and argv and not os.path.lexists(argv[0]):
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1, cutoff=0.75)
        if close:  # a command mistyped, not a file
            _error(f"{argv[0]}: no such file or command; did you mean blindspot {close[0]}?")
            return 2
    args = parsers[command].parse_args(argv[1:] if command != "anonymize" else argv)
    # Pillow warns about damaged files ("Truncated File Read", "Corrupt EXIF data") on stderr;
    # damage that matters fails the decode and gets its one `blindspot: error:` line instead.
    warnings.simplefilter("ignore", UserWarning)
    try:
        return {"anonymize": _anonymize, "detect": _detect, "clean": _clean,
                "demo": _demo, "audit": _audit,
                "cluster": _anonymize, "review": _review}[command](args)
    except BlindspotError as e:
        _error(e)
        return 1
    except ValueError as e:  # an option out of range
        _error(e)
        return 2
    except KeyboardInterrupt:
        _error("interrupted; no partial output was written")
        return 130
    except Exception as e:  # noqa: BLE001 - a bug of ours: still one line, still fail closed
        _internal(e)
        return 1


def _internal(error: Exception, path: Path | None = None) -> None:
    if os.environ.get("BLINDSPOT_DEBUG"):
        traceback.print_exc()
    where = f"{path}: " if path else ""
    _error(f"{where}internal error ({type(error).__name__}: {error}); no output was written. "
           "Set BLINDSPOT_DEBUG=1 for details")


def _error(message: object) -> None:
    print(f"blindspot: error: {message}", file=sys.stderr)


def _anonymize(args: argparse.Namespace) -> int:
    options = Options(**_kinds(args), threshold=args.threshold, mask_scale=args.mask_scale,
                      keep_weak=args.keep_weak,
                      overwrite=args.force, max_pixels=args.max_pixels, crf=args.crf,
                      keep_audio=not args.no_audio, detect_every=args.detect_every,
                      voice=args.voice, max_duration=args.max_duration, max_frames=args.max_frames,
                      device=args.device, threads=args.threads or 0)
    providers(options.device)  # --device cuda without CUDA: one line before any work
    transcript = getattr(args, "transcript", None)
    if transcript is not None and (len(args.inputs) != 1 or Path(args.inputs[0]).is_dir()
                                   or options.voice != "revoice"):
        raise ValueError("--transcript takes one input file and --voice revoice")
    status, results = _run_batch(args, "anon", Task("anonymize", options))
    if args.report is not None:
        write_report(args.report, results, options, args.report_hashes)
    if transcript is not None and results:
        from .audio.revoice import srt
        with atomic_output(transcript, overwrite=True) as f:
            f.write(srt(results[0].lines).encode("utf-8"))
    return status


def _clean(args: argparse.Namespace) -> int:
    options = Options(overwrite=args.force, max_pixels=args.max_pixels,
                      max_frames=args.max_frames)
    return _run_batch(args, "clean", Task("clean", options), PHOTO_EXTENSIONS)[0]


def _run_batch(args: argparse.Namespace, suffix: str, task: Task,
               extensions: frozenset[str] = MEDIA_EXTENSIONS) -> tuple[int, list[FileResult]]:
    """Run `task` on every input, locally or on the Ray cluster; each file's line as it ends,
    then the exit status and the results in the inputs' order."""
    if args.resume and args.force:
        raise ValueError("--resume keeps existing outputs and --force replaces them: "
                         "give one of them")
    jobs, problems = plan_outputs(args.inputs, args.output, suffix, extensions)
    for problem in problems:
        _error(problem)
    todo, skipped = split_done(jobs) if args.resume else (jobs, [])
    for src, out in skipped:
        print(f"{src} -> {out}: skipped, output exists (--resume)")
    if getattr(args, "address", None) is not None:  # blindspot cluster
        from .run.cluster import run_ray
        outcomes = run_ray(task, todo, args.address, args.workers)
    else:
        outcomes = run_local(task, todo, args.workers)
    results: dict[Path, FileResult] = {}
    failed = len(problems)
    with Progress(todo) as progress:
        for outcome in outcomes:
            if outcome.result is not None:
                results[outcome.source] = outcome.result
                progress.say(outcome.result.summary())
            else:
                _error(outcome.error)
                failed += 1
            progress.finished(outcome)
    total = len(jobs) + len(problems)
    if total > 1:  # one file: its own line (or error) says it all
        resumed = f" ({len(skipped)} of them before, skipped)" if skipped else ""
        print(f"{total - failed} of {count(total, 'file')} done{resumed}, {failed} failed",
              file=sys.stderr)
    return (1 if failed else 0), [results[src] for src, _ in todo if src in results]


def _detect(args: argparse.Namespace) -> int:
    options = Options(cover=args.cover, threshold=args.threshold, max_pixels=args.max_pixels,
                      keep_weak=args.keep_weak,
                      max_frames=args.max_frames, max_duration=args.max_duration)
    found: dict[str, list] = {}
    failed = 0
    for name in args.inputs:
        try:
            if is_sound(Path(name)):  # [start, end, "speech"] per span, in seconds
                found[name] = [[round(s.start, 3), round(s.end, 3), "speech"]
                               for s in detect_speech(name, options)]
                continue
            frames = detect_file(name, options)
        except BlindspotError as e:
            _error(e)
            failed += 1
            continue
        if is_video(Path(name)):  # one list per frame
            found[name] = [dets.to_xywh() for dets in frames]
        else:
            found[name] = [row for dets in frames for row in dets.to_xywh()]
    print(json.dumps(found))
    return 1 if failed else 0


def _audit(args: argparse.Namespace) -> int:
    """Exit 0: every file PASSes; 1: a file FAILs; 2: an error (bad option, unreadable file)."""
    from .audit import AuditSettings, audit_file, require_dlib
    from .audit.report import json_report, terminal_table, write_html
    if args.original and len(args.original) != len(args.outputs):
        raise ValueError(f"give one --original per OUTPUT, in the same order "
                         f"({count(len(args.outputs), 'output')}, "
                         f"{count(len(args.original), 'original')})")
    settings = AuditSettings(every=args.every, cover=args.cover)
    if args.html is not None and args.html.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{args.html}: the HTML report's name must end in .html")
    try:
        if not all(is_sound(Path(name)) for name in args.outputs):  # sound needs no dlib
            require_dlib()
    except BlindspotError as e:
        _error(e)
        return 2
    results, errors = [], []
    for output, original in zip(args.outputs, args.original or [None] * len(args.outputs),
                                strict=True):
        try:
            results.append(audit_file(output, original, settings))
        except BlindspotError as e:
            _error(e)
            errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - one file's bug must not stop the batch
            _internal(e, Path(output))
            errors.append(f"{output}: internal error")
    print(json_report(results, settings, errors) if args.json
          else terminal_table(results, settings))
    if args.html is not None:
        try:
            write_html(args.html, results, settings, errors)
        except OSError as e:
            _error(f"{args.html}: cannot write: {e.strerror or e}")
            return 2
    if errors:
        return 2
    return 0 if all(r.passed for r in results) else 1


def _review(args: argparse.Namespace) -> int:
    from .review import Session, serve
    options = Options(**_kinds(args), threshold=args.threshold, mask_scale=args.mask_scale,
                      keep_weak=args.keep_weak,
                      overwrite=args.force, max_pixels=args.max_pixels,
                      max_frames=args.max_frames, crf=args.crf, keep_audio=not args.no_audio,
                      voice=args.voice,
                      detect_every=args.detect_every)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"port must lie between 0 and 65535, not {args.port}")
    session = Session(args.inputs, args.output, options, args.report, args.report_hashes)
    for problem in session.problems:
        _error(problem)
    if not session.entries:  # each input has had its line
        return 1
    try:
        serve(session, args.port, not args.no_browser, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .run.demo import run_demo
    for line in run_demo(args.output, args.cover):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
