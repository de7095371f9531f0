"""The `blindspot` command: a thin layer over the Python API.

    blindspot FILE_OR_DIR… [-o OUT]     cover faces and strip metadata
    blindspot detect FILE… --json       print the face boxes
    blindspot clean FILE… [-o OUT]      strip metadata only, pixels untouched
    blindspot demo                      anonymize a bundled example
    blindspot audit OUTPUT… [--original ORIGINAL…]   attack outputs: leaks, re-id, metadata
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import BlindspotError
from .options import MODES, Options
from .outputs import MEDIA_EXTENSIONS, plan_outputs
from .pipeline import FileResult, anonymize_file, clean_file, detect_file, is_video
from .report import write_report
from .sink import PHOTO_EXTENSIONS

COMMANDS = ("detect", "clean", "demo", "audit")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        print(f"blindspot: error: {message}", file=sys.stderr)
        sys.exit(2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, default=Options.threshold,
                        help=f"detection threshold, lower finds more (default {Options.threshold})")
    parser.add_argument("--max-pixels", type=int, default=Options.max_pixels,
                        help="refuse images larger than this many pixels")


def _outputs(parser: argparse.ArgumentParser, suffix: str) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help=f"output file, or folder for several inputs (default: "
                             f"NAME.{suffix}.EXT beside each input)")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    anonymize = _Parser(
        prog="blindspot",
        description="Cover every face and remove identifying metadata from photos. "
                    "Other commands: blindspot {detect,clean,demo,audit} --help",
    )
    anonymize.add_argument("--version", action="version", version=f"blindspot {__version__}")
    _outputs(anonymize, "anon")
    anonymize.add_argument("--mode", choices=MODES, default=Options.mode,
                           help=f"how faces are covered (default {Options.mode})")
    anonymize.add_argument("--mask-scale", type=float, default=Options.mask_scale,
                           help=f"mask size relative to the face box (default "
                                f"{Options.mask_scale})")
    _common(anonymize)
    video = anonymize.add_argument_group("video")
    video.add_argument("--crf", type=int, default=Options.crf,
                       help=f"video quality, 0–51, lower is better (default {Options.crf})")
    video.add_argument("--no-audio", action="store_true",
                       help="drop the sound (voices identify people too)")
    video.add_argument("--detect-every", type=int, default=Options.detect_every, metavar="N",
                       help=f"detect on every N-th frame; tracking covers the frames between "
                            f"(default {Options.detect_every})")
    video.add_argument("--max-duration", type=float, default=Options.max_duration,
                       metavar="SECONDS", help="refuse longer videos")
    report = anonymize.add_argument_group("report")
    report.add_argument("--report", type=Path, metavar="FILE.json",
                        help="write what was covered in each file (settings, model, boxes per "
                             "frame); names files by their output only")
    report.add_argument("--report-hashes", action="store_true",
                        help="also put input names and SHA-256 hashes in the report (they link "
                             "the published file to the original)")

    detect = _Parser(prog="blindspot detect", description="Print the face boxes blindspot "
                     "would cover, in displayed pixels: {path: [[x, y, w, h, score], …]} "
                     "(for a video, one such list per frame, after tracking).")
    detect.add_argument("inputs", nargs="+", metavar="FILE")
    detect.add_argument("--json", action="store_true", help="print JSON (the only format)")
    _common(detect)

    clean = _Parser(prog="blindspot clean", description="Remove metadata, keep the picture "
                    "as it is (no re-encoding for JPEG, PNG, WebP and GIF). For photos "
                    "without people.")
    _outputs(clean, "clean")
    clean.add_argument("--max-pixels", type=int, default=Options.max_pixels,
                       help="refuse images larger than this many pixels")

    demo = _Parser(prog="blindspot demo", description="Anonymize a bundled example photo.")
    demo.add_argument("-o", "--output", type=Path, metavar="DIR",
                      help="folder for the example and its result (default: a new temp folder)")
    return {"anonymize": anonymize, "detect": detect, "clean": clean, "demo": demo,
            "audit": _audit_parser()}


def _audit_parser() -> argparse.ArgumentParser:
    from .audit import AuditSettings
    audit = _Parser(prog="blindspot audit", description="Attack anonymized outputs: look for "
                    "faces with three detectors, try to re-identify the originals' faces with "
                    "dlib's recognizer, read the metadata left. Exit 0: all PASS, 1: a file "
                    "FAILs, 2: a file could not be audited. Needs pip install 'blindspot[audit]'.")
    audit.add_argument("outputs", nargs="+", metavar="OUTPUT")
    audit.add_argument("--original", nargs="+", metavar="ORIGINAL", default=[],
                       help="the originals, one per OUTPUT in the same order: adds the "
                            "re-identification attack (never written anywhere)")
    audit.add_argument("--every", type=int, default=AuditSettings.every, metavar="N",
                       help=f"check every N-th frame of a video (default "
                            f"{AuditSettings.every}: every frame)")
    audit.add_argument("--json", action="store_true", help="print the findings as JSON")
    audit.add_argument("--html", type=Path, metavar="REPORT.html",
                       help="write a self-contained HTML report (shows the outputs only)")
    return audit


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parsers = build_parsers()
    command = argv[0] if argv and argv[0] in COMMANDS else "anonymize"
    args = parsers[command].parse_args(argv[1:] if command != "anonymize" else argv)
    # Pillow warns about damaged files ("Truncated File Read", "Corrupt EXIF data") on stderr;
    # damage that matters fails the decode and gets its one `blindspot: error:` line instead.
    warnings.simplefilter("ignore", UserWarning)
    try:
        return {"anonymize": _anonymize, "detect": _detect, "clean": _clean,
                "demo": _demo, "audit": _audit}[command](args)
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
    options = Options(mode=args.mode, threshold=args.threshold, mask_scale=args.mask_scale,
                      overwrite=args.force, max_pixels=args.max_pixels, crf=args.crf,
                      keep_audio=not args.no_audio, detect_every=args.detect_every,
                      max_duration=args.max_duration)
    results: list[FileResult] = []

    def work(src: Path, out: Path) -> FileResult:
        result = anonymize_file(src, out, options)
        results.append(result)
        return result

    status = _run_batch(args, "anon", work)
    if args.report is not None:
        write_report(args.report, results, options, args.report_hashes)
    return status


def _clean(args: argparse.Namespace) -> int:
    options = Options(overwrite=args.force, max_pixels=args.max_pixels)
    return _run_batch(args, "clean", lambda src, out: clean_file(src, out, options),
                      PHOTO_EXTENSIONS)


def _run_batch(args: argparse.Namespace, suffix: str,
               work: Callable[[Path, Path], FileResult],
               extensions: frozenset[str] = MEDIA_EXTENSIONS) -> int:
    jobs, problems = plan_outputs(args.inputs, args.output, suffix, extensions)
    for problem in problems:
        _error(problem)
    failed = len(problems)
    progress = _progress(len(jobs))
    for src, out in jobs:
        try:
            result = work(src, out)
            _say(result.summary(), progress)
        except BlindspotError as e:
            _error(e)
            failed += 1
        except Exception as e:  # noqa: BLE001 - one file's bug must not stop the batch
            _internal(e, src)
            failed += 1
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    if len(jobs) + len(problems) > 1:  # one file: its own line (or error) says it all
        print(f"{len(jobs) - (failed - len(problems))} of {len(jobs) + len(problems)} files "
              f"done, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _progress(total: int):
    if total < 2:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="file", file=sys.stderr, disable=None, leave=False)


def _say(line: str, progress) -> None:
    if progress is not None:
        progress.write(line, file=sys.stdout)
    else:
        print(line)


def _detect(args: argparse.Namespace) -> int:
    options = Options(threshold=args.threshold, max_pixels=args.max_pixels)
    found: dict[str, list] = {}
    failed = 0
    for name in args.inputs:
        try:
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
    from .audit_report import json_report, terminal_table, write_html
    if args.original and len(args.original) != len(args.outputs):
        raise ValueError(f"give one --original per OUTPUT, in the same order "
                         f"({len(args.outputs)} outputs, {len(args.original)} originals)")
    settings = AuditSettings(every=args.every)
    if args.html is not None and args.html.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{args.html}: the HTML report's name must end in .html")
    try:
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


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    for line in run_demo(args.output):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
