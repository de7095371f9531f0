"""`blindspot review --voice revoice`: the words of each revoiced span, under the reviewer's
control, with the real recognizer (Whisper base) and the real synthetic voice (hibari).

A WAV of two sentences by espeak-ng, apart (two speech spans): each span is transcribed once,
in the background, and its lines join the review, the words that may name someone marked (a
name, a number, a place). On the page a word is changed ("bridge" → "market") and a line
removed; the export says the edited line in a new voice, and the removed line's time is
silent. The same for a video's speech, through the session. Without the voice extra, the span
says why, and the export refuses. Screenshots: tests/artifacts/review-revoice*.png.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import test_review
from soundfiles import write_sound
from test_review import ARTIFACTS, ReviewServer, _export, _open_page, _wait_saved
from test_voice import sound_of

from blindspot.audio.revoice import INSTALL_HINT
from blindspot.errors import BlindspotError
from blindspot.media.sound import read_audio
from blindspot.options import Options
from blindspot.review import session as session_module
from blindspot.review import state
from blindspot.review.session import Session

browser = test_review.browser  # the fixture: headless Chromium, as the other review tests
VOICE_EXTRA = all(importlib.util.find_spec(m) for m in ("faster_whisper", "hibari"))
needs_voice = pytest.mark.skipif(not VOICE_EXTRA, reason="the voice extra: pip install '.[voice]'")
ESPEAK = ("-v", "en-us", "-s", "150")  # Whisper base hears these sentences word for word
FIRST = "I met Anna Smith at the old bridge."
SECOND = "We meet on Baker Street at ten."
RATE = 16000  # the recognizer's


def _espeak(folder: Path, text: str) -> tuple[np.ndarray, int]:
    path = folder / "said.wav"
    subprocess.run(["espeak-ng", *ESPEAK, "-w", str(path), text], check=True,
                   capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    path.unlink()
    return data.astype(np.float32) / 32768, rate


def _two_sentences(folder: Path) -> tuple[np.ndarray, int]:
    """1 s of silence, FIRST, 2 s of silence, SECOND, 1 s of silence."""
    first, rate = _espeak(folder, FIRST)
    second, _ = _espeak(folder, SECOND)

    def gap(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * rate), np.float32)

    return np.concatenate([gap(1.0), 0.8 * first, gap(2.0), 0.8 * second, gap(1.0)]), rate


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    if not Path("/usr/bin/espeak-ng").exists():
        pytest.skip("espeak-ng not installed")
    folder = tmp_path_factory.mktemp("revoice-review")
    samples, rate = _two_sentences(folder)
    return write_sound(folder / "talk.wav", samples, rate, tags={"artist": "Jane Source"})


def _fresh(talk: Path, tmp_path: Path) -> Path:
    path = tmp_path / "talk.wav"
    path.write_bytes(talk.read_bytes())
    return path


def _transcribed(session: Session, key: str, errors: bool = False) -> dict:
    """The file `key` once loaded and no span waits for its transcription (`errors`: or once
    every span waiting has failed)."""
    for _ in range(1200):
        data = session.open(key)
        if data["status"] == "error":
            raise AssertionError(data["error"])
        waiting = data.get("transcripts", {}).values()
        if data["status"] == "ready" and all(errors and t["status"] == "error"
                                             for t in waiting):
            return data
        time.sleep(0.1)
    raise TimeoutError(key)


def _counting(monkeypatch) -> list[list[tuple[float, float]]]:
    """The spans of each transcription the session asks for (the real one runs)."""
    calls: list[list[tuple[float, float]]] = []
    real = session_module.transcribe

    def counted(path, edits):
        calls.append([(span.start, span.end) for span, _ in edits])
        return real(path, edits)

    monkeypatch.setattr(session_module, "transcribe", counted)
    return calls


def _heard(path: Path) -> str:
    from blindspot.audio import revoice
    recognizer, _ = revoice.load()
    samples = np.concatenate(list(read_audio(path, RATE)))
    return " ".join(text for *_, text in recognizer.transcribe(samples)[1]).lower()


def _marks(line: dict) -> list[tuple[str, str]]:
    return [(line["text"][a:b], kind) for a, b, kind in line["marks"]]


# ---------------------------------------------------------------------------- the session


@needs_voice
def test_each_span_is_transcribed_once_and_the_review_keeps_its_edited_lines(
        talk, tmp_path, monkeypatch):
    path = _fresh(talk, tmp_path)
    calls = _counting(monkeypatch)
    session = Session([str(path)], None, Options(voice="revoice"))
    try:
        data = _transcribed(session, "0/talk.wav")
        review = data["review"]
        s1, s2 = review["speech"]
        assert (s1["voice"], s2["voice"]) == ("revoice", "revoice")
        assert [line["text"] for line in s1["lines"]] == [FIRST]
        assert [line["text"] for line in s2["lines"]] == ["We meet on Baker Street at 10."]
        for span in (s1, s2):  # each line inside its span
            assert all(span["start"] <= x["start"] <= x["end"] <= span["end"]
                       for x in span["lines"])
        # the words to check, found by the server
        assert _marks(s1["lines"][0]) == [("Anna Smith", "name")]
        assert _marks(s2["lines"][0]) == [("Baker Street", "place"), ("10", "number")]
        assert len(calls) == 1 and len(calls[0]) == 2  # both spans in one pass

        # The page edits a line, removes the other span's, marks a span by hand to revoice
        # and sends s1 without lines (as it would had it not heard of them yet).
        s1["lines"][0]["text"] = FIRST.replace("bridge", "market")
        s2["lines"] = []
        review["speech"].append({"id": "m1", "source": "marked", "start": 0.1, "end": 0.5,
                                 "voice": "revoice"})
        answer = session.update("0/talk.wav", review)
        assert answer["marks"]["s1"] == [[[6, 16, "name"]]]
        no_lines = json.loads(json.dumps(review))
        del no_lines["speech"][0]["lines"]
        session.update("0/talk.wav", no_lines)
        again = _transcribed(session, "0/talk.wav")["review"]
        # only the new span was transcribed; what the reviewer wrote is kept
        assert calls[1:] == [[(0.1, 0.5)]]
        assert again["speech"][0]["lines"][0]["text"] == "I met Anna Smith at the old market."
        assert again["speech"][1]["lines"] == []
        assert again["speech"][2]["lines"] is not None
        # switched to mute and back: the lines stay, nothing is transcribed again
        again["speech"][0]["voice"] = "mute"
        session.update("0/talk.wav", again)
        again["speech"][0]["voice"] = "revoice"
        session.update("0/talk.wav", again)
        assert len(calls) == 2
    finally:
        session.close()

    # Saved beside the output, and resumed as the reviewer left it, with no transcription.
    saved = json.loads(state.state_path(tmp_path / "talk.anon.wav").read_text())
    assert saved["speech"][0]["lines"][0]["text"] == "I met Anna Smith at the old market."
    assert "marks" not in saved["speech"][0]["lines"][0]  # the page's, not the review's
    resumed = Session([str(path)], None, Options(voice="revoice"))
    try:
        review = _transcribed(resumed, "0/talk.wav")["review"]
    finally:
        resumed.close()
    assert len(calls) == 2
    assert [s.get("lines") for s in review["speech"]] == [
        s.get("lines") for s in _transcribed_json(saved)["speech"]]


def _transcribed_json(saved: dict) -> dict:
    """A saved review as the page gets it (each line with its marks)."""
    return session_module._with_marks(state.Review.from_json(saved).to_json())


@needs_voice
def test_a_videos_revoiced_speech_is_exported_as_reviewed(tmp_path):
    from soundfiles import write_talking_clip
    if not Path("/usr/bin/espeak-ng").exists():
        pytest.skip("espeak-ng not installed")
    samples, rate = _two_sentences(tmp_path)
    samples = samples[:round(4.0 * rate)]  # the first sentence only (2.4 s from 1 s)
    path = write_talking_clip(tmp_path / "talk.mp4", samples, rate,
                              np.full((64, 96, 3), 90, np.uint8))
    options = Options(voice="revoice")
    session = Session([str(path)], None, options)
    try:
        review = _transcribed(session, "0/talk.mp4")["review"]
        (span,) = review["speech"]
        assert "bridge" in span["lines"][0]["text"]
        edited = span["lines"][0]["text"].replace("bridge", "market")
        span["lines"][0]["text"] = edited
        session.update("0/talk.mp4", review)
        result = session.export_file(session.entry("0/talk.mp4"),
                                     replace(options, overwrite=True))
    finally:
        session.close()
    assert [line.text for line in result.lines] == [edited]
    heard = _heard(tmp_path / "talk.anon.mp4")
    assert "market" in heard and "bridge" not in heard


def test_without_the_voice_extra_the_span_says_why_and_the_export_refuses(
        talk, tmp_path, monkeypatch):
    def missing(path, edits):
        raise BlindspotError(INSTALL_HINT)

    monkeypatch.setattr(session_module, "transcribe", missing)
    path = _fresh(talk, tmp_path)
    session = Session([str(path)], None, Options(voice="revoice"))
    try:
        data = _transcribed(session, "0/talk.wav", errors=True)
        assert data["transcripts"] == {s: {"status": "error", "error": INSTALL_HINT}
                                       for s in ("s1", "s2")}
        assert all("lines" not in s for s in data["review"]["speech"])
        session.start_export(None, overwrite=True)
        while session.export_status()["running"]:
            time.sleep(0.05)
        status = session.export_status()
    finally:
        session.close()
    assert status["written"] == [] and status["errors"] == [f"{path}: {INSTALL_HINT}"]
    assert not (tmp_path / "talk.anon.wav").exists()


# ---------------------------------------------------------------------------- the state


def _good() -> dict:
    return {"blindspot_review": 1, "name": "talk.wav", "width": 0, "height": 0, "frames": 0,
            "mode": "solid", "faces": [], "sound": 9.0,
            "speech": [{"id": "s1", "source": "detected", "start": 1.0, "end": 4.0,
                        "voice": "revoice",
                        "lines": [{"start": 1.2, "end": 2.5, "text": "I met Anna.",
                                   "language": "en", "speaker": 0, "edit": "revoice"},
                                  {"start": 2.6, "end": 3.9, "text": "Здравствуйте",
                                   "language": "ru", "speaker": 1, "edit": "mute"}]}]}


def test_lines_round_trip_a_muted_one_without_its_words():
    review = state.Review.from_json(_good())
    (span,) = review.speech
    assert [line.text for line in span.lines] == ["I met Anna.", ""]
    assert review.revoice_lines() == span.lines
    data = review.to_json()
    assert data["speech"][0]["lines"][1] == {"start": 2.6, "end": 3.9, "text": "",
                                             "language": "ru", "speaker": 1, "edit": "mute"}
    assert state.Review.from_json(data).to_json() == data
    # a line emptied by the reviewer is said by no one; a span not yet transcribed is refused
    span.lines[0] = replace(span.lines[0], text="  ")
    assert review.revoice_lines() == [span.lines[1]]
    span.lines = None
    with pytest.raises(ValueError):
        review.revoice_lines()
    span.voice = "mute"
    assert review.revoice_lines() is None


def _line(**change) -> dict:
    good = _good()
    good["speech"][0]["lines"][0] |= change
    return good


@pytest.mark.parametrize("bad", [
    _line(start=0.5),  # before its span
    _line(end=4.5),  # past its span
    _line(start=2.0, end=1.5),
    _line(start="1.2"),
    _line(start=float("nan")),
    _line(text=None),
    _line(text="x" * (state.MAX_LINE_TEXT + 1)),
    _line(text="two\nlines"),
    _line(text="a\x00b"),
    _line(language="en; rm -rf"),
    _line(speaker=-1),
    _line(speaker=True),
    _line(edit="disguise"),
    _good() | {"speech": [_good()["speech"][0] | {"lines": "I met Anna."}]},
    _good() | {"speech": [_good()["speech"][0] | {"lines": ["I met Anna."]}]},
    _good() | {"speech": [_good()["speech"][0] | {
        "lines": [_good()["speech"][0]["lines"][0]] * (state.MAX_LINES + 1)}]},
])
def test_lines_that_are_not_well_formed_are_refused(bad):
    with pytest.raises(state.StateError):
        state.Review.from_json(bad)


# ---------------------------------------------------------------------------- the page


@needs_voice
def test_the_page_shows_the_words_marked_edits_them_and_the_export_says_them(
        browser, talk, tmp_path):
    from playwright.sync_api import expect
    _fresh(talk, tmp_path)
    with ReviewServer(str(tmp_path), "--voice", "revoice") as server:
        page, requests, problems = _open_page(browser, server)
        first = page.locator("#speechList li[data-id=s1] .line textarea")
        second = page.locator("#speechList li[data-id=s2] .line textarea")
        expect(first).to_have_value(FIRST, timeout=120_000)
        expect(second).to_have_value("We meet on Baker Street at 10.")
        spans = server.opened("0/talk.wav")["review"]["speech"]
        lines = [span["lines"][0] for span in spans]
        # each line: its times, its voice, its words with those to check marked
        row = page.locator("#speechList li[data-id=s1] .line")
        expect(row.locator(".when")).to_have_text(
            f"0:0{lines[0]['start']:.1f}–0:0{lines[0]['end']:.1f}")
        expect(row.locator("select.speaker")).to_have_value("0")
        assert row.locator("select.speaker option:checked").inner_text() == "voice 1"
        expect(page.locator("#speechList li[data-id=s1] mark[data-kind=name]")).to_have_text(
            "Anna Smith")
        expect(page.locator("#speechList li[data-id=s2] mark[data-kind=place]")).to_have_text(
            "Baker Street")
        expect(page.locator("#speechList li[data-id=s2] mark[data-kind=number]")).to_have_text(
            "10")
        expect(page.locator("#wordLegend")).to_be_visible()
        expect(page.locator("#waveSpans .band[data-id=s1]")).to_have_attribute("data-voice",
                                                                               "revoice")
        # the marks lie under their words
        mark = page.locator("#speechList li[data-id=s1] mark").bounding_box()
        field = first.bounding_box()
        assert field["x"] < mark["x"] < field["x"] + field["width"] / 2
        assert field["y"] <= mark["y"] and mark["y"] + mark["height"] <= field["y"] + field[
            "height"]
        page.screenshot(path="/tmp/review_revoice.png")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "review-revoice.png")

        # Typing: the server marks the new words (a number, no place any more).
        second.fill("We meet there at 9.")
        expect(page.locator("#speechList li[data-id=s2] mark[data-kind=number]")).to_have_text(
            "9")
        expect(page.locator("#speechList li[data-id=s2] mark[data-kind=place]")).to_have_count(0)
        # Keys typed in a line are words, not shortcuts (J would go to the next file).
        first.click()
        page.keyboard.press("End")
        page.keyboard.type(" J")
        expect(first).to_have_value(FIRST + " J")
        first.fill(FIRST.replace("bridge", "market"))
        # The second line removed: its time stays silent.
        page.click("#speechList li[data-id=s2] .line button.remove")
        expect(page.locator("#speechList li[data-id=s2] .transcript")).to_contain_text(
            "stays silent")
        state_file = tmp_path / "talk.anon.wav.review.json"
        saved = _wait_saved(state_file, lambda s: s["speech"][1].get("lines") == [] and [
            x["text"] for x in s["speech"][0].get("lines", [])] == [
            "I met Anna Smith at the old market."])
        expect(page.locator("#speechList li[data-id=s1] mark[data-kind=name]")).to_have_text(
            "Anna Smith")
        page.screenshot(path=ARTIFACTS / "review-revoice-edited.png")
        _export(page)
        assert not problems, problems
        assert all(url.startswith(server.base + "/") for url in requests), requests

    out = tmp_path / "talk.anon.wav"
    heard = _heard(out)
    assert "market" in heard and "bridge" not in heard, heard
    assert "baker" not in heard and "meet" not in heard, heard
    after, rate, _ = sound_of(out)
    removed = lines[1]
    assert not after[round(removed["start"] * rate):round(removed["end"] * rate)].any()
    assert after[round(lines[0]["start"] * rate):round(lines[0]["end"] * rate)].any()
    assert saved["speech"][0]["lines"][0]["speaker"] == 0


def test_the_page_shows_why_a_span_cannot_be_transcribed_and_the_export_fails(
        browser, talk, tmp_path, monkeypatch):
    """Without the voice extra (a faster_whisper that cannot be imported, for the server)."""
    from playwright.sync_api import expect
    fake = tmp_path / "no-extra" / "faster_whisper"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("not installed")\n')
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    folder = tmp_path / "sounds"
    folder.mkdir()
    _fresh(talk, folder)
    with ReviewServer(str(folder), "--voice", "revoice") as server:
        page, requests, problems = _open_page(browser, server)
        error = page.locator("#speechList li[data-id=s1] .transcript.error")
        expect(error).to_have_text(INSTALL_HINT, timeout=60_000)
        expect(page.locator("#speechList li[data-id=s2] .transcript.error")).to_have_text(
            INSTALL_HINT)
        page.screenshot(path=ARTIFACTS / "review-revoice-no-extra.png")
        page.click("#exportBtn")
        page.wait_for_selector("#exportStatus[data-state=failed]", timeout=60_000)
        expect(page.locator("#exportText")).to_contain_text(INSTALL_HINT)
        # switched to mute, the span needs no words: the export goes through
        for span in ("s1", "s2"):
            page.click(f"#speechList li[data-id={span}] button[data-voice=mute]")
        expect(page.locator("#speechList .transcript")).to_have_count(0)
        _wait_saved(folder / "talk.anon.wav.review.json",
                    lambda s: {x["voice"] for x in s["speech"]} == {"mute"})
        _export(page)
        assert not problems, problems
    assert (folder / "talk.anon.wav").exists()
