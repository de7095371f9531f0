"""Atomic output files: written to a temporary file beside the target, synced, then renamed.

A crash at any moment leaves either the complete output or no output, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import BlindspotError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Yield a file to write `path`'s content to; it appears at `path` only on success."""
    path = Path(path)
    try:
        exists = path.exists()
        if not exists or overwrite:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp",
                                       dir=path.parent)
    except OSError as e:  # a name too long, a folder we may not write to, a full disk
        raise _cannot_write(path, e) from None
    if exists and not overwrite:
        raise BlindspotError("output exists (use --force to replace it)", str(path))
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # like any new file, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise _cannot_write(path, e) from None
        _publish(Path(tmp), path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_dir(path.parent)


def _cannot_write(path: Path, error: OSError) -> BlindspotError:
    return BlindspotError(f"cannot write {path}: {error.strerror or error}")


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    try:
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if `path` appeared meanwhile: never clobber
        except FileExistsError:
            raise BlindspotError("output exists (use --force to replace it)",
                                 str(path)) from None
        except OSError:
            os.replace(tmp, path)  # file systems without hard links
            return
    except OSError as e:
        raise _cannot_write(path, e) from None
    with contextlib.suppress(OSError):  # the output is complete and in place already
        os.unlink(tmp)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
