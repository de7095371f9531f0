"""Where each output goes: `NAME.anon.EXT` beside an input, or a mirrored tree under `-o`.

Folders are walked recursively (symbolic links to folders are not followed, so a link loop
cannot trap the walk); blindspot's own outputs and temporary files found there are skipped.
An output is never an input.
"""

from __future__ import annotations

import os
from pathlib import Path

from .sink import PHOTO_EXTENSIONS

OUTPUT_SUFFIXES = (".anon", ".clean")


def default_output(path: Path, suffix: str) -> Path:
    """`photo.jpg` → `photo.anon.jpg` (for suffix "anon")."""
    return path.with_name(f"{path.stem}.{suffix}{path.suffix}")


def walk_photos(folder: Path) -> list[Path]:
    """Every photo below `folder`, sorted, skipping blindspot outputs and temporary files."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or path.suffix.lower() not in PHOTO_EXTENSIONS:
                continue
            if Path(name).stem.endswith(OUTPUT_SUFFIXES):
                continue
            found.append(path)
    return found


def plan_outputs(inputs: list[str], output: Path | None, suffix: str
                 ) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, output) pairs for a run, and a one-line problem for each input that can't run."""
    jobs: list[tuple[Path, Path]] = []
    problems: list[str] = []
    single = len(inputs) == 1
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            photos = walk_photos(path)
            if not photos:
                problems.append(f"{name}: no photos found in this folder")
            for photo in photos:
                rel = photo.relative_to(path)
                if output is None:
                    jobs.append((photo, default_output(photo, suffix)))
                else:
                    root = output if single else output / _folder_name(path)
                    jobs.append((photo, root / rel))
        elif path.exists():
            if output is None:
                jobs.append((path, default_output(path, suffix)))
            elif single and not output.is_dir() and not str(output).endswith(os.sep):
                jobs.append((path, output))
            else:
                jobs.append((path, output / path.name))
        else:
            problems.append(f"{name}: no such file or folder")
    return _drop_collisions(jobs, problems)


def _folder_name(path: Path) -> str:
    return path.resolve().name or "root"


def _drop_collisions(jobs: list[tuple[Path, Path]], problems: list[str]
                     ) -> tuple[list[tuple[Path, Path]], list[str]]:
    sources = {os.path.realpath(src) for src, _ in jobs}
    seen: set[str] = set()
    kept = []
    for src, out in jobs:
        key = os.path.realpath(out)
        if key in sources:
            problems.append(f"{src}: output {out} would overwrite an input; choose another "
                            "output")
        elif key in seen:
            problems.append(f"{src}: output {out} is also the output of another input")
        else:
            seen.add(key)
            kept.append((src, out))
    return kept, problems
