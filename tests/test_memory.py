"""`memory.trim`: what the threads of a long video free goes back to the system."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from blindspot import memory


def _rss_mb() -> int:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) // 1024


@pytest.mark.skipif(memory._malloc_trim() is None, reason="no glibc malloc_trim here")
def test_trim_hands_back_what_a_thread_freed() -> None:
    kept: dict[str, object] = {}

    def work() -> None:
        # 128 MB in blocks below the mmap threshold, then a small block after them: freed, they
        # stay in this thread's heap (the small block pins its top).
        blocks = [np.ones(8192) for _ in range(2000)]
        kept["pin"] = np.ones(10)
        del blocks
        kept["freed"] = _rss_mb()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    memory.trim()
    assert _rss_mb() < int(kept["freed"]) - 30  # type: ignore[call-overload]
