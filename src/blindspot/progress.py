"""Progress told by the work as it goes, for a progress bar to show: `advance(amount)` after
each video frame covered and each stretch of sound written (in seconds). Nothing listens
unless the command line shows one long file's progress on a terminal (`batch.Progress`), so
`advance` costs a look at one variable and the work never waits on a bar."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_listener: Callable[[float], object] | None = None


def advance(amount: float = 1) -> None:
    """Tell the listener, if any, that `amount` more of the work is done."""
    listener = _listener
    if listener is not None:
        listener(amount)


@contextlib.contextmanager
def listening(listener: Callable[[float], object]) -> Iterator[None]:
    """While inside, `advance(amount)` calls `listener(amount)` (from any thread)."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous
