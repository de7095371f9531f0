"""The README is a guide a newcomer can follow: short, every link resolving, every command
named, the extras it names real, and its test command the one CI runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from soundfiles import TAGS, write_sound
from test_batch import make_clip

from blindspot.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# [text](target) and ![alt](target), the target up to a space (a title) or the closing bracket
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
INSTALL = re.compile(r"pip install (?:-e )?'([^']+)'")


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file, outside code blocks and code spans."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def extras() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["project"]["optional-dependencies"])


def test_readme_is_at_most_15_kb() -> None:
    assert README.stat().st_size <= 15 * 1024


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file_of_the_repository(path: Path) -> None:
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address or an anchor in the same page
        resolved = (path.parent / unquote(target.split("#")[0])).resolve()
        if not resolved.is_file() or ROOT not in resolved.parents:
            broken.append(target)
    assert broken == []


def test_the_link_finder_finds_links() -> None:  # the test above must not pass on nothing
    assert "docs/safety.md" in links(README)
    assert "revoice.md" in links(ROOT / "docs" / "sound.md")


def test_every_command_is_in_the_top_level_help_and_in_the_readme() -> None:
    result = subprocess.run([sys.executable, "-m", "blindspot", "--help"], capture_output=True,
                            text=True, timeout=60, check=True)
    readme = README.read_text(encoding="utf-8")
    for command, (line, _) in COMMANDS.items():
        assert re.search(rf"^  {command} +{re.escape(line)}$", result.stdout, re.M), command
        assert f"blindspot {command}" in readme, command


def test_every_install_command_names_a_real_extra() -> None:
    """The README and the messages name extras one way: `pip install 'blindspot[EXTRA]'` (from
    a checkout before blindspot is installed: `pip install '.[EXTRA,…]'`)."""
    known = extras()
    texts = [README, *DOCS, *(ROOT / "src" / "blindspot").rglob("*.py")]
    found = 0
    for path in texts:
        text = path.read_text(encoding="utf-8")
        for extra in re.findall(r"install_hint\('([^']*)'\)", text):  # the messages' one way
            assert extra in known, f"{path.name}: install_hint('{extra}')"
            found += 1
        for spec in INSTALL.findall(text.replace("pip install 'blindspot[{extra}]'", "")):
            package, _, names = spec.partition("[")
            assert package in ("blindspot", "."), f"{path.name}: pip install '{spec}'"
            assert names.endswith("]") and set(names[:-1].split(",")) <= known, \
                f"{path.name}: pip install '{spec}'"
            found += 1
    assert found > 10


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.split("# The README's test command:\n", 1)[1].strip()
    assert command in README.read_text(encoding="utf-8").split("## Development", 1)[1]


def section_commands(heading: str) -> list[str]:
    """The command lines of the first `sh` block under `## heading`, comments dropped."""
    section = README.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    """Each line of the README's quick start, run as it stands on files of the names it uses."""
    Image.fromarray(skdata.astronaut()).save(tmp_path / "photo.jpg")
    make_clip(tmp_path / "march.mp4")
    (tmp_path / "archive").mkdir()
    Image.fromarray(skdata.astronaut()).save(tmp_path / "archive" / "a.jpg")
    Image.fromarray(skdata.coffee()).save(tmp_path / "archive" / "b.png")
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000)
    write_sound(tmp_path / "interview.m4a", tone, 16000, TAGS)
    commands = section_commands("Quick start")
    assert len(commands) >= 4 and all(c.startswith("blindspot ") for c in commands)
    for command in commands:
        result = subprocess.run([sys.executable, "-m", "blindspot", *shlex.split(command)[1:]],
                                cwd=tmp_path, capture_output=True, text=True, timeout=300,
                                check=False, env={**os.environ, "TMPDIR": str(tmp_path)})
        assert result.returncode == 0, (command, result.stderr)
    for output in ("photo.anon.jpg", "march.anon.mp4", "archive-anon/a.jpg",
                   "archive-anon/b.png", "interview.anon.m4a"):
        assert (tmp_path / output).is_file(), output
