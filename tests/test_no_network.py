"""No network, ever: blindspot runs photos and videos (a batch in worker processes too) with
the network unavailable, and never even tries to reach it.

Three independent checks on the same real run of the command:
- with every socket outside the machine refused inside the Python processes (an audit hook,
  installed through `sitecustomize` so that the worker processes get it as well): any attempt
  to open an internet socket or look up a name is logged and refused;
- in a network namespace with no network at all (`unshare -n`), where the run must succeed;
- under `strace`, where available, for attempts made by native code (FFmpeg, ONNX Runtime).

Each run has a home of its own, which must stay as empty as it began: OpenVINO's telemetry wrote
a client id under ~/intel, ONNX Runtime's a device id and an event cache under
~/.cache/Microsoft, and ONNX Runtime's uploader looks up its collector some ten seconds after the
import (watched under `strace` by a run that outlasts that).

One of the inputs is named `http:clip.mp4`: FFmpeg reads such a name as a URL and went on the
network for it (a DNS look-up) until blindspot opened videos by absolute path with FFmpeg's
file protocol only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_clip_with_sound
from PIL import Image
from skimage import data as skdata

HOOK = '''
import os, socket, sys

_LOG = os.environ["BLINDSPOT_NETWORK_LOG"]
_NAMES = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
          "socket.gethostbyaddr", "socket.getnameinfo")


def _local(args):
    return any(getattr(a, "family", None) == socket.AF_UNIX or a == socket.AF_UNIX
               for a in args)


def _hook(event, args):
    if not event.startswith("socket."):
        return
    if event == "socket.__new__" and len(args) > 1 and args[1] in (socket.AF_UNIX, -1):
        return
    if event in ("socket.connect", "socket.bind") and (_local(args[:1])
                                                       or isinstance(args[1], (str, bytes))):
        return
    if event in ("socket.__new__", "socket.connect", "socket.bind", "socket.sendto",
                 "socket.sendmsg") or event in _NAMES:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {event} {args!r}\\n")
        raise PermissionError(f"blindspot test: network use refused ({event})")


sys.addaudithook(_hook)
'''


def _inputs(folder: Path) -> list[str]:
    """Photos (one with a face), a video with sound, and a video whose name is a URL."""
    Image.fromarray(skdata.astronaut()).save(folder / "astronaut.jpg", quality=90)
    Image.fromarray(skdata.coffee()).resize((120, 80)).save(folder / "coffee.png")
    Image.fromarray(skdata.coffee()).resize((64, 48)).save(folder / "coffee.heic", quality=70)
    rng = np.random.default_rng(0)
    clip = write_clip_with_sound(folder / "clip.mp4",
                                 [rng.integers(0, 255, (64, 96, 3), np.uint8) for _ in range(10)],
                                 audio_frames=5)
    shutil.copyfile(clip, folder / "http:clip.mp4")
    return ["astronaut.jpg", "coffee.png", "coffee.heic", "clip.mp4", "http:clip.mp4"]


EXPECTED = ["astronaut.jpg", "clip.mp4", "coffee.heic", "coffee.png", "http:clip.mp4"]


def _command(names: list[str], out: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "blindspot.cli", *names, "-o", out, "--workers", str(workers)]


def _env(folder: Path) -> dict[str, str]:
    hook = folder / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = _home_env(folder)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    env["BLINDSPOT_NETWORK_LOG"] = str(folder / "network.log")
    return env


def _home_env(folder: Path) -> dict[str, str]:
    """This environment with an empty home of its own, `folder/home`, and no other cache."""
    env = dict(os.environ)
    env["HOME"] = str(folder / "home")
    (folder / "home").mkdir(exist_ok=True)
    for name in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):
        env.pop(name, None)
    return env


def _traces(folder: Path) -> list[str]:
    """What the run left in its home: the telemetry of OpenVINO (~/intel), of ONNX Runtime
    (~/.cache/Microsoft), anything else."""
    return sorted(str(p.relative_to(folder / "home")) for p in (folder / "home").rglob("*"))


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.stat().st_size > 0)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "worker-processes"])
def test_no_socket_is_ever_opened(tmp_path: Path, workers: int) -> None:
    names = _inputs(tmp_path)
    env = _env(tmp_path)
    # The hook works: a plain name look-up in a hooked interpreter is refused and logged.
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('x', 80)"],
                           env=env, capture_output=True, text=True, check=False)
    assert "network use refused" in probe.stderr
    (tmp_path / "network.log").unlink()

    result = subprocess.run(_command(names, "out", workers), cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
    assert _outputs(tmp_path / "out") == EXPECTED
    assert _traces(tmp_path) == []


@pytest.mark.skipif(not _unshare_works(), reason="`unshare -n` is not permitted here")
def test_works_without_any_network(tmp_path: Path) -> None:
    names = _inputs(tmp_path)
    result = subprocess.run(["unshare", "-n", *_command(names, "out", 2)], cwd=tmp_path,
                            env=_home_env(tmp_path), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert _outputs(tmp_path / "out") == EXPECTED
    assert _traces(tmp_path) == []


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_native_code_opens_no_internet_socket(tmp_path: Path) -> None:
    """FFmpeg and ONNX Runtime are C and C++: their sockets would not pass Python's hook."""
    _run_traced(tmp_path, _command(_inputs(tmp_path), "out", 1), timeout=300)
    assert _outputs(tmp_path / "out") == EXPECTED


# ONNX Runtime's uploader (1.32) looked up mobile.events.data.microsoft.com 9.5 s after the import.
UPLOADER_DELAY_S = 15
LINGER = f"""
import time
from blindspot.detect import faces
faces.CenterFace(1, precision="f32")  # a session on ONNX Runtime
time.sleep({UPLOADER_DELAY_S})
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_onnx_runtime_never_reports(tmp_path: Path) -> None:
    """ONNX Runtime's telemetry waits before it goes on the network: a process that loads a
    model and outlasts that wait (longer than the other runs here) must not try."""
    _run_traced(tmp_path, [sys.executable, "-c", LINGER], timeout=120)


def _run_traced(tmp_path: Path, command: list[str], timeout: int) -> None:
    """Run `command` under strace in `tmp_path` with its own home: it must succeed, open no
    internet socket and leave the home empty."""
    trace = tmp_path / "trace.txt"
    result = subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket,connect,sendto",
                             "-o", str(trace), *command],
                            cwd=tmp_path, env=_home_env(tmp_path), capture_output=True,
                            text=True, timeout=timeout, check=False)
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip("strace may not trace here (ptrace refused)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _internet(trace) == []
    assert _traces(tmp_path) == []


def _internet(trace: Path) -> list[str]:
    return [line for line in trace.read_text().splitlines()
            if re.search(r"AF_INET6?|AF_PACKET|sin6?_port", line)]


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("espeak-ng") is None,
                    reason="strace and espeak-ng are needed")
def test_revoice_reaches_no_network(tmp_path: Path) -> None:
    """--voice revoice loads Whisper (faster-whisper, which can fetch models from a hub) and
    hibari (which can fetch voices): from the pinned wheels only, nothing fetched or cached."""
    pytest.importorskip("faster_whisper", reason="the voice extra: pip install '.[voice]'")
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "memo.wav"),
                    "Meet me at the old bridge at nine tonight."], check=True)
    command = [sys.executable, "-m", "blindspot.cli", "memo.wav", "-o", "out/memo.wav",
               "--voice", "revoice"]
    result = subprocess.run(command, cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "revoiced" in result.stdout
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
    assert _traces(tmp_path) == []
    _run_traced(tmp_path, [*command, "--force"], timeout=300)
