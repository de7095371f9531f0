"""Run every benchmark; write one Markdown summary: each one's table and the command that made it.

Runs `bench/detection.py`, `bench/video.py`, `bench/metadata.py` and `bench/reid.py` one after
the other, each as a subprocess of this Python, from the repository root. A benchmark whose file
does not exist is skipped with a note; one that fails gets its exit status and the end of its
error output in the summary. The benchmarks' progress (their stderr) goes to this stderr.

    python bench/run_all.py [--out bench-summary.md] [--skip video ...]
                            [--args "reid=--limit-people 20" ...]

Without `--out` the summary is printed to stdout.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("detection", "video", "metadata", "reid")
STDERR_TAIL = 20  # lines of a failed benchmark's stderr kept in the summary


@dataclass(frozen=True)
class Outcome:
    name: str
    command: list[str]
    returncode: int | None  # None: not run
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    note: str = ""  # why it was not run


def command_for(name: str, extra: list[str]) -> list[str]:
    return [sys.executable, f"bench/{name}.py", *extra]


def run_benchmark(name: str, extra: list[str]) -> Outcome:
    command = command_for(name, extra)
    if not (ROOT / "bench" / f"{name}.py").is_file():
        return Outcome(name, command, None, note=f"`bench/{name}.py` does not exist.")
    print(f"== {shlex.join(display(command))}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()))
    reader.start()
    stderr = []
    for line in process.stderr:  # shown live and kept for the tail of a failure
        sys.stderr.write(line)
        stderr.append(line)
    reader.join()
    returncode = process.wait()
    return Outcome(name, command, returncode, time.perf_counter() - start, "".join(stdout),
                   "".join(stderr))


def display(command: list[str]) -> list[str]:
    """The command as one would type it: `python` instead of this interpreter's path."""
    return ["python", *command[1:]]


def section(outcome: Outcome) -> str:
    title = f"## {outcome.name}\n\n"
    if outcome.returncode is None:
        return title + f"Skipped: {outcome.note}\n"
    lines = [f"`{shlex.join(display(outcome.command))}` — {outcome.seconds:.0f} s", ""]
    if outcome.returncode != 0:
        tail = outcome.stderr.rstrip().splitlines()[-STDERR_TAIL:]
        lines += [f"**Failed** with exit status {outcome.returncode}.", "", "```",
                  *tail, "```", ""]
    if outcome.stdout.strip():
        lines.append(outcome.stdout.strip())
    return title + "\n".join(lines) + "\n"


def summary(outcomes: list[Outcome]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"# blindspot benchmarks\n\n{when}; Python {platform.python_version()} on "
            f"{platform.machine()}, {platform.system()} {platform.release()}.\n")
    return "\n".join([head, *(section(o) for o in outcomes)])


def parse_extra(pairs: list[str]) -> dict[str, list[str]]:
    """`name=ARGS` pairs → the extra arguments of each benchmark."""
    extra: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, args = pair.partition("=")
        if not sep or name not in BENCHMARKS:
            raise SystemExit(f"--args wants NAME=ARGS with NAME one of "
                             f"{', '.join(BENCHMARKS)}, not {pair!r}")
        extra[name] = extra.get(name, []) + shlex.split(args)
    return extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the summary here (default: stdout)")
    parser.add_argument("--skip", nargs="+", default=[], choices=BENCHMARKS,
                        help="benchmarks not to run")
    parser.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                        help="extra arguments for one benchmark, e.g. 'reid=--limit-people 20'")
    args = parser.parse_args(argv)

    extra = parse_extra(args.args)
    outcomes = [Outcome(name, command_for(name, []), None, note="--skip on request.")
                if name in args.skip else run_benchmark(name, extra.get(name, []))
                for name in BENCHMARKS]
    text = summary(outcomes)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"summary written to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0 if all(o.returncode in (0, None) for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
