"""Giving freed memory back to the system during a long video.

A video's passes run in several threads (decoding, detection, the model's streams, the render,
the encoder), each allocating and freeing pictures of many sizes. glibc's allocator keeps what
they free in per-thread heaps, and over a long video those heaps grow, fragmented: the
844×844 talking head looped 30× (3,750 frames) rose from 773 to 1,057 MB, and kept rising.
Trimming the heaps now and then (`malloc_trim`, which also hands back the free pages inside
them) kept the same run flat (docs/speed.md). Elsewhere (macOS, musl) `trim` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def trim() -> None:
    """Hand the memory freed so far back to the system, where the C library can."""
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)
