"""How blindspot words what it tells people: counts that agree with their number, and the one
way to name an extra to install."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun` agreeing with it: "1 file", "0 files", "2 files"; `plural` for nouns
    that take more than an s ("person", "people")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def install_hint(extra: str) -> str:
    """The command that adds the optional dependencies `extra` of pyproject.toml. With blindspot
    installed, from a checkout (`pip install .` or `pip install -e .`) or a wheel, pip keeps the
    installed blindspot and adds the extra's packages (the README names extras the same way;
    blindspot on PyPI is another project, so the first install is from the checkout)."""
    return f"pip install 'blindspot[{extra}]'"
