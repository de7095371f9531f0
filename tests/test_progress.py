"""Long runs show their progress on a terminal (one video: its frames; one sound file: its
seconds; a batch: files and frames) and stay quiet when stderr is piped."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
from soundfiles import write_wav
from test_batch import make_clip

from blindspot import anonymize_file
from blindspot.progress import advance, listening


def on_terminal(*args: str | Path, cwd: Path) -> tuple[int, str]:
    """`blindspot ARGS…` with stderr on a pseudo-terminal: (exit code, what the terminal got)."""
    terminal, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 wide
    process = subprocess.Popen([sys.executable, "-m", "blindspot.cli", *map(str, args)],
                               cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=child_end)
    os.close(child_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    return process.wait(timeout=300), shown.decode("utf-8", "replace")


def test_advance_reaches_only_a_listener() -> None:
    told: list[float] = []
    advance(5)  # nobody listens: nothing happens
    with listening(told.append):
        advance()
        advance(0.5)
    advance(7)
    assert told == [1, 0.5]


def test_a_video_tells_each_frame_and_a_sound_file_its_seconds(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=12)
    sound = write_wav(tmp_path / "talk.wav", np.zeros(16000 * 3, np.float32), 16000)
    for path, expected in ((clip, 12), (sound, 3.0)):
        told: list[float] = []
        with listening(told.append):
            anonymize_file(path, tmp_path / f"out{path.suffix}")
        assert abs(sum(told) - expected) < 0.05, (path.name, sum(told))


def test_one_video_shows_its_frames_on_a_terminal_and_nothing_when_piped(
        tmp_path: Path) -> None:
    make_clip(tmp_path / "clip.mp4", frames=12)
    status, shown = on_terminal("clip.mp4", cwd=tmp_path)
    assert status == 0 and "/12 frames [" in shown, shown

    piped = subprocess.run([sys.executable, "-m", "blindspot.cli", "clip.mp4", "--force"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           check=False)
    assert piped.returncode == 0 and piped.stderr == ""
