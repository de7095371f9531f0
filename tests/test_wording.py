"""Counts agree with their number, and every install hint names its extra one way."""

from __future__ import annotations

import pytest

from blindspot.audio.revoice import INSTALL_HINT as VOICE_HINT
from blindspot.audit.attack import INSTALL_HINT as AUDIT_HINT
from blindspot.run.pipeline import FileResult
from blindspot.wording import count, install_hint


@pytest.mark.parametrize(("n", "expected"), [(0, "0 files"), (1, "1 file"), (2, "2 files")])
def test_count_agrees_with_its_number(n: int, expected: str) -> None:
    assert count(n, "file") == expected


def test_count_takes_an_irregular_plural() -> None:
    assert (count(1, "person", "people"), count(3, "person", "people")) == ("1 person",
                                                                           "3 people")


def test_the_summary_counts_grammatically() -> None:
    result = FileResult(source="a.jpg", output="a.anon.jpg", faces=1, uncertain=0,
                        covered={"face": 1, "person": 2}, left={"text": 1})
    summary = result.summary()
    assert "1 face, 2 people covered" in summary and "1 text region left" in summary


def test_the_install_hints_are_one_command() -> None:
    assert install_hint("audit") == "pip install 'blindspot[audit]'"
    assert AUDIT_HINT.endswith(install_hint("audit"))
    assert VOICE_HINT.endswith(install_hint("voice"))
