"""Kill -9 at any moment: every output is then either complete or absent, never half written.

A batch (photos, one with a face, and a video with sound) is run once to the end for reference,
then 20 times killed with SIGKILL (the whole process group, as a power cut or the OOM killer
would) at random moments spread over the whole run. After each kill every output that exists
decodes completely into what the uninterrupted run wrote (same size and frame count; the same
bytes, except where the encoder's threads make them differ). What a kill may leave is a
temporary file, hidden (`.NAME.XXXXXXXX.tmp`), never at an output's name; folder walks skip
such files and `--resume` removes them (docs/safety.md), which the test checks as well.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
from conftest import write_clip_with_sound
from PIL import Image
from skimage import data as skdata

KILLS = 20


def _inputs(folder: Path) -> None:
    folder.mkdir()
    Image.fromarray(skdata.astronaut()).resize((256, 256)).save(folder / "face.jpg")
    coffee = Image.fromarray(skdata.coffee())
    for index, size in enumerate(((200, 150), (150, 200), (300, 200))):
        coffee.resize(size).save(folder / f"coffee{index}.png")
    face = np.asarray(Image.fromarray(skdata.astronaut()).resize((128, 96)))
    write_clip_with_sound(folder / "clip.mp4",
                          [np.roll(face, index, axis=1) for index in range(24)], audio_frames=10)


def _command(out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "blindspot.cli", "in", "-o", out, "--workers", "1", *extra]


def _describe(path: Path) -> tuple[tuple[int, int], int]:
    """(size, frames) after decoding every frame: raises if any part is missing or damaged."""
    if path.suffix == ".mp4":
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            frames = [f for f in container.decode(stream)]
            return (frames[0].width, frames[0].height), len(frames)
    with Image.open(path) as image:
        image.load()
        return image.size, 1


def _files(folder: Path) -> dict[str, Path]:
    return {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sigkill_at_random_moments_leaves_complete_outputs_or_none(tmp_path: Path) -> None:
    _inputs(tmp_path / "in")
    started = time.monotonic()
    reference = subprocess.run(_command("ref"), cwd=tmp_path, capture_output=True, text=True,
                               timeout=300, check=False)
    whole = time.monotonic() - started
    assert reference.returncode == 0, reference.stderr
    expected = {name: _describe(path) for name, path in _files(tmp_path / "ref").items()}
    assert sorted(expected) == ["clip.mp4", "coffee0.png", "coffee1.png", "coffee2.png",
                                "face.jpg"]
    reference_hashes = {name: _sha(path) for name, path in _files(tmp_path / "ref").items()}

    rng = random.Random(int(os.environ.get("BLINDSPOT_KILL_SEED", "0")) or None)
    partial, identical, temporaries = 0, 0, 0
    for kill in range(KILLS):
        out = tmp_path / f"out{kill}"
        # Stratified: kill k lands somewhere in the k-th twentieth of the whole run (the first
        # second or so is Python importing, before anything is written).
        delay = whole * (kill + rng.random()) / KILLS
        process = subprocess.Popen(_command(out.name), cwd=tmp_path, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        found = _files(out) if out.exists() else {}
        outputs = {name: path for name, path in found.items()
                   if not Path(name).name.startswith(".")}
        leftovers = [name for name in found if Path(name).name.startswith(".")]
        for name in leftovers:
            assert Path(name).name.endswith(".tmp"), name
        temporaries += len(leftovers)
        for name, path in outputs.items():
            assert name in expected, name
            assert _describe(path) == expected[name], f"kill {kill} after {delay:.2f} s: {name}"
            identical += _sha(path) == reference_hashes[name]
        partial += 0 < len(outputs) < len(expected) or bool(leftovers)

        if kill % 10 == 9:  # an interrupted run, resumed, ends complete and tidy
            resumed = subprocess.run(_command(out.name, "--resume"), cwd=tmp_path,
                                     capture_output=True, text=True, timeout=300, check=False)
            assert resumed.returncode == 0, resumed.stderr
            after = _files(out)
            assert sorted(after) == sorted(expected), sorted(after)
            assert all(_describe(after[name]) == expected[name] for name in expected)
    # The kills landed while files were being written, not only before or after the run.
    assert partial >= 3, (partial, whole)
    print(f"{KILLS} kills over {whole:.1f} s: {partial} mid-batch, {identical} outputs "
          f"byte-identical to the reference, {temporaries} temporary files left")
