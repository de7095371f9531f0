"""Where each output goes: `NAME.anon.EXT` beside an input, or a mirrored tree under `-o`.

Folders are walked recursively (symbolic links to folders are not followed, so a link loop
cannot trap the walk); blindspot's own outputs and temporary files found there are skipped.
An output is never an input.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..media.photo_sink import PHOTO_EXTENSIONS
from ..media.sound import SOUND_EXTENSIONS
from ..media.video_reader import VIDEO_EXTENSIONS
from ..media.video_writer import output_extension

MEDIA_EXTENSIONS = PHOTO_EXTENSIONS | VIDEO_EXTENSIONS | SOUND_EXTENSIONS

OUTPUT_SUFFIXES = (".anon", ".clean")


def output_suffix(path: Path) -> str:
    """The extension of `path`'s output: its own, but `.mp4` for an AVI video."""
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return output_extension(path.suffix)
    return path.suffix


def default_output(path: Path, suffix: str) -> Path:
    """`photo.jpg` → `photo.anon.jpg` (for suffix "anon"); `clip.avi` → `clip.anon.mp4`."""
    return path.with_name(f"{path.stem}.{suffix}{output_suffix(path)}")


def walk_media(folder: Path, extensions: frozenset[str] = MEDIA_EXTENSIONS,
               problems: list[str] | None = None) -> list[Path]:
    """Every photo, video and sound file below `folder`, sorted, skipping blindspot outputs and
    temporary files. A folder that cannot be read adds a line to `problems` (its files are
    missed)."""
    found = []

    def unreadable(error: OSError) -> None:
        if problems is not None:
            problems.append(f"{error.filename}: cannot read this folder "
                            f"({error.strerror or error}); the files in it were not processed")

    for root, dirs, files in os.walk(folder, followlinks=False, onerror=unreadable):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or path.suffix.lower() not in extensions:
                continue
            if Path(name).stem.endswith(OUTPUT_SUFFIXES):
                continue
            found.append(path)
    return found


def plan_outputs(inputs: list[str], output: Path | None, suffix: str,
                 extensions: frozenset[str] = MEDIA_EXTENSIONS
                 ) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, output) pairs for a run, and a one-line problem for each input that can't run.
    Folders are searched for files with `extensions`."""
    jobs: list[tuple[Path, Path]] = []
    problems: list[str] = []
    single = len(inputs) == 1
    for name in inputs:
        path = Path(name)
        try:
            kind = _kind(path)
        except OSError as e:  # a name too long for the file system, say
            problems.append(f"{name}: cannot read: {e.strerror or e}")
            continue
        if kind == "folder":
            before = len(problems)
            photos = walk_media(path, extensions, problems)
            if not photos and len(problems) == before:
                problems.append(f"{name}: no photos, videos or sound files found in this folder")
            for photo in photos:
                problem = _not_a_file(photo)
                if problem:
                    problems.append(f"{photo}: {problem}")
                    continue
                rel = photo.relative_to(path)
                if output is None:
                    jobs.append((photo, default_output(photo, suffix)))
                else:
                    root = output if single else output / _folder_name(path)
                    jobs.append((photo, (root / rel).with_suffix(output_suffix(rel))))
        elif kind == "other":
            problems.append(f"{name}: {_NOT_A_FILE}")
        elif kind == "file":
            if output is None:
                jobs.append((path, default_output(path, suffix)))
            elif single and not output.is_dir() and not str(output).endswith(os.sep):
                jobs.append((path, output))
            else:
                jobs.append((path, (output / path.name).with_suffix(output_suffix(path))))
        else:
            problems.append(f"{name}: no such file or folder")
    return _drop_collisions(jobs, problems)


_NOT_A_FILE = "not a regular file (a pipe, device or socket): not read"


def _kind(path: Path) -> str:
    """"folder", "file", "other" (a pipe, a device: reading one could block forever) or
    "missing" (a broken or looping link too); symbolic links are followed."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return "missing"
        raise
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _not_a_file(path: Path) -> str | None:
    """Why a file found in a folder cannot be read as one (None: it can)."""
    try:
        kind = _kind(path)
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if kind == "missing":
        return "no such file (a broken or looping link)"
    return _NOT_A_FILE if kind != "file" else None


def _too_long(out: Path) -> bool:
    """Whether the file system refuses `out`'s name (or path) as too long."""
    try:
        os.stat(out)
    except OSError as e:
        return e.errno == errno.ENAMETOOLONG
    return False


def _folder_name(path: Path) -> str:
    return path.resolve().name or "root"


def _drop_collisions(jobs: list[tuple[Path, Path]], problems: list[str]
                     ) -> tuple[list[tuple[Path, Path]], list[str]]:
    sources = {os.path.realpath(src) for src, _ in jobs}
    seen: set[str] = set()
    kept = []
    for src, out in jobs:
        key = os.path.realpath(out)
        if _too_long(out):
            problems.append(f"{src}: the output's name would be too long for the file system; "
                            "give a shorter one with -o")
        elif key in sources:
            problems.append(f"{src}: output {out} would overwrite an input; choose another "
                            "output")
        elif key in seen:
            problems.append(f"{src}: output {out} is also the output of another input")
        else:
            seen.add(key)
            kept.append((src, out))
    return kept, problems
