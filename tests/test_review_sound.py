"""`blindspot review` of a sound file: a WAV of real speech (espeak-ng), two sentences apart.

Its review holds no picture, only the speech found (each span muted, the default of a sound
file) and the sound's length; the page draws its waveform with the spans over it and plays
the file itself. One span is set to keep, the export then has that sentence as it was and the
other silent; the review is saved, resumed, and its state refused when it is not a sound's.
Screenshot: /tmp/review_sound.png and tests/artifacts/review-sound.png.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import test_review
from soundfiles import write_sound
from test_review import ARTIFACTS, ReviewServer, _export, _open_page, _wait_saved
from test_voice import db, sound_of

from blindspot.options import Options
from blindspot.review import state
from blindspot.review.session import NotFound, Session
from blindspot.review.waveform import BUCKETS, MAX_BLOCKS, RATE, Peaks, waveform

browser = test_review.browser  # the fixture: headless Chromium, as the other review tests
FIRST = "The meeting is at the old bridge at nine tonight."
SECOND = "Bring the banner and tell nobody."


def _espeak(folder: Path, name: str, text: str) -> tuple[np.ndarray, int]:
    import subprocess
    path = folder / name
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    path.unlink()
    return data.astype(np.float32) / 32768, rate


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """A WAV: 1 s of silence, a sentence, 2 s of silence, another, 1 s of silence. Returns
    (path, [(start, end) of each sentence in seconds], rate)."""
    if not Path("/usr/bin/espeak-ng").exists():
        pytest.skip("espeak-ng not installed")
    folder = tmp_path_factory.mktemp("sound-review")
    first, rate = _espeak(folder, "a.wav", FIRST)
    second, _ = _espeak(folder, "b.wav", SECOND)

    def gap(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * rate), np.float32)

    samples = np.concatenate([gap(1.0), 0.8 * first, gap(2.0), 0.8 * second, gap(1.0)])
    a = 1.0 + len(first) / rate
    b = a + 2.0 + len(second) / rate
    folder = folder / "sounds"
    folder.mkdir()
    path = write_sound(folder / "talk.wav", samples, rate, tags={"artist": "Jane Source"})
    return path, [(1.0, a), (a + 2.0, b)], rate


def _fresh(talk, tmp_path) -> Path:
    """A copy of the WAV of `talk` in `tmp_path` (its own outputs and saved review)."""
    path = tmp_path / "talk.wav"
    path.write_bytes(talk[0].read_bytes())
    return path


def _loaded(session: Session, key: str) -> dict:
    for _ in range(600):
        data = session.open(key)
        if data["status"] in ("ready", "error"):
            assert data["status"] == "ready", data["error"]
            return data
        time.sleep(0.05)
    raise TimeoutError(key)


def _exported(session: Session) -> dict:
    session.start_export(None, overwrite=True)
    for _ in range(600):
        status = session.export_status()
        if not status["running"]:
            assert not status["errors"], status
            return status
        time.sleep(0.05)
    raise TimeoutError("export")


def _part(rate: int, a: float, b: float) -> slice:
    return slice(round(a * rate), round(b * rate))


def _check_output(out: Path, original: Path, parts, rate: int, kept: tuple[int, ...]) -> None:
    """`out` is the sound of `original`: the `parts` (start, end s) numbered in `kept` as they
    were, the others silent."""
    before, _, _ = sound_of(original)
    after, out_rate, codec = sound_of(out)
    assert out.suffix == ".wav" and codec.startswith("pcm_") and out_rate == rate
    assert abs(len(after) - len(before)) <= 2048
    for number, (a, b) in enumerate(parts):
        span = _part(rate, a + 0.1, b - 0.1)
        if number in kept:
            assert abs(db(after[span]) - db(before[span])) < 0.5, (a, b)
        else:
            assert db(after[span]) < db(before[span]) - 60, (a, b)


# ---------------------------------------------------------------------------- the waveform


def test_the_waveform_is_each_stretchs_lowest_and_highest_level():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.3, 0.3, 10 * RATE).astype(np.float32)
    x[3 * RATE:4 * RATE] *= 3  # a loud second
    wave_ = waveform([x[i:i + 1021] for i in range(0, len(x), 1021)])  # cut across blocks
    assert wave_.samples == len(x) and abs(wave_.duration - 10.0) < 1e-9
    assert len(wave_.low) == len(wave_.high) == BUCKETS
    # each stretch: the lowest and highest sample of its blocks, however the chunks were cut
    block = 16 * 2 ** int(np.ceil(np.log2(len(x) / 16 / MAX_BLOCKS)))
    starts = np.linspace(0, -(-len(x) // block), BUCKETS + 1).astype(int) * block
    for i in range(BUCKETS):
        part = x[starts[i]:starts[i + 1]]
        assert (wave_.low[i], wave_.high[i]) == (part.min(), part.max()), i
    for other in (waveform([x]), waveform(x[i:i + 7] for i in range(0, len(x), 7))):
        assert np.array_equal(other.low, wave_.low) and np.array_equal(other.high, wave_.high)
    loud = slice(round(0.3 * BUCKETS) + 2, round(0.4 * BUCKETS) - 2)
    assert wave_.high[loud].min() > 0.6 and wave_.high[round(0.5 * BUCKETS):].max() <= 0.3
    short = waveform([np.array([0.5, -0.25], np.float32)])
    assert short.low.tolist() == [-0.25] and short.high.tolist() == [0.5]
    assert waveform([]).samples == 0 and len(waveform([]).low) == 0


def test_the_waveform_of_hours_keeps_a_few_thousand_levels():
    """Memory stays flat: however long the sound, neighbouring blocks are joined as it comes."""
    peaks = Peaks()
    minute = np.zeros(RATE * 60, np.float32)
    minute[::RATE] = 1.0  # a click a second
    for _ in range(3 * 60):
        peaks.push(minute)
        assert sum(len(a) for a in peaks._low) <= MAX_BLOCKS
    wave_ = peaks.finish()
    assert len(wave_.low) == BUCKETS and wave_.samples == 3 * 3600 * RATE
    assert wave_.high.min() == 1.0  # every stretch (6.75 s) holds a click


# ---------------------------------------------------------------------------- session and state


def test_a_sound_file_is_reviewed_by_its_speech_and_exported_with_its_voices(talk, tmp_path):
    _, sentences, rate = talk
    path = _fresh(talk, tmp_path)
    session = Session([str(path)], None, Options())
    try:
        key = "0/talk.wav"
        assert session.page(0)["files"][0]["kind"] == "sound"
        data = _loaded(session, key)
        review = data["review"]
        # no picture: nothing but the speech and the sound's length
        assert (review["width"], review["height"], review["frames"], review["faces"]) == (
            0, 0, 0, [])
        assert abs(review["sound"] - sound_of(path)[0].size / rate) < 0.01
        speech = review["speech"]
        assert len(speech) == 2 and {s["voice"] for s in speech} == {"mute"}  # a sound: muted
        assert data["voice"] == "mute"
        for span, (a, b) in zip(speech, sentences, strict=True):
            assert span["start"] <= a + 0.1 and span["end"] >= b - 0.1
        assert speech[0]["end"] < speech[1]["start"]
        # the waveform: loud in the sentences, flat between them
        sound = data["sound"]
        assert (sound["rate"], sound["channels"], sound["codec"]) == (rate, 1, "pcm_s16le")
        wave_ = sound["wave"]
        assert len(wave_["low"]) == len(wave_["high"]) == BUCKETS
        assert abs(wave_["duration"] - review["sound"]) < 0.001

        def level(a: float, b: float) -> int:
            n = len(wave_["high"])
            part = slice(round(a / review["sound"] * n), round(b / review["sound"] * n))
            return max(wave_["high"][part]) - min(wave_["low"][part])

        assert level(*sentences[0]) > 500 and level(*sentences[1]) > 500
        assert level(sentences[0][1] + 0.5, sentences[1][0] - 0.5) == 0
        # no pictures of a sound; its own bytes are served, nothing else's
        for ask in (lambda: session.thumbnail(key), lambda: session.frame(key, 0, False),
                    lambda: session.face_thumbnail(key, "f1", 0)):
            with pytest.raises(NotFound):
                ask()
        assert session.sound_file(key) == path.resolve()

        # The first sentence kept, the second left muted; saved, then exported.
        speech[0]["voice"] = "keep"
        session.update(key, review)
        with pytest.raises(state.StateError):  # a page cannot stretch the sound
            session.update(key, review | {"sound": review["sound"] + 3})
        with pytest.raises(state.StateError):  # nor give it a picture
            session.update(key, review | {"width": 10, "height": 10, "frames": 1})
        _exported(session)
    finally:
        session.close()
    out = tmp_path / "talk.anon.wav"
    _check_output(out, path, sentences, rate, kept=(0,))
    assert "Jane" not in out.read_bytes().decode("latin-1")
    saved = json.loads(state.state_path(out).read_text())
    assert saved["frames"] == 0 and [s["voice"] for s in saved["speech"]] == ["keep", "mute"]


def test_a_saved_sound_review_resumes_and_is_refused_when_it_does_not_fit(talk, tmp_path):
    path = _fresh(talk, tmp_path)
    out = tmp_path / "talk.anon.wav"
    first = Session([str(path)], None, Options(voice="disguise"))
    try:
        review = _loaded(first, "0/talk.wav")["review"]
    finally:
        first.close()
    assert {s["voice"] for s in review["speech"]} == {"disguise"}  # --voice given: it
    # Marked by hand and reviewed: saved as the page saves it, then resumed as it was.
    review["speech"].append({"id": "m1", "source": "marked", "start": 0.1, "end": 0.6,
                             "voice": "mute"})
    review["speech"][0]["voice"] = "keep"
    review["reviewed"] = True
    state.save(state.Review.from_json(review), out)
    again = Session([str(path)], None, Options())
    try:
        assert again.page(0)["files"][0]["reviewed"] is True
        resumed = _loaded(again, "0/talk.wav")["review"]
    finally:
        again.close()
    assert resumed == state.Review.from_json(review).to_json()
    assert [s["voice"] for s in resumed["speech"]] == ["keep", "disguise", "mute"]

    # A review saved for a sound of another length is not resumed: the speech is found anew.
    state.save(state.Review.from_json(review | {"sound": review["sound"] + 2}), out)
    other = Session([str(path)], None, Options())
    try:
        found = _loaded(other, "0/talk.wav")["review"]
    finally:
        other.close()
    assert found["reviewed"] is False and [s["voice"] for s in found["speech"]] == ["mute"] * 2


@pytest.mark.parametrize("change", [
    {"faces": [{"id": "d1", "source": "drawn", "keep": True, "mode": "solid", "start": 0,
                "end": 0, "keys": [[0, 1, 1, 2, 2]]}]},  # a face in a sound
    {"sound": None, "speech": []},  # a sound's review without its length
    {"width": 640},  # a picture's size without frames
    {"frames": -1},
])
def test_a_sound_review_that_is_not_well_formed_is_refused(change):
    good = {"blindspot_review": 1, "name": "talk.wav", "width": 0, "height": 0, "frames": 0,
            "mode": "solid", "faces": [], "sound": 8.6,
            "speech": [{"id": "s1", "source": "detected", "start": 1, "end": 2,
                        "voice": "mute"}]}
    assert state.Review.from_json(good).to_json()["speech"] == good["speech"]
    with pytest.raises(state.StateError):
        state.Review.from_json(good | change)


# ---------------------------------------------------------------------------- the server


def _get(server: ReviewServer, path: str, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", path, headers={"Host": f"127.0.0.1:{server.port}"}
                       | (headers or {}))
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_the_sound_is_served_to_the_token_only_and_only_a_sound_of_the_review(talk, tmp_path):
    from PIL import Image
    path = _fresh(talk, tmp_path)
    Image.new("RGB", (32, 24), (90, 90, 90)).save(tmp_path / "photo.png")
    (tmp_path / "outside.wav").write_bytes(path.read_bytes())
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "talk.wav").write_bytes(path.read_bytes())
    (inside / "link.wav").symlink_to(tmp_path / "outside.wav")
    with ReviewServer(str(inside), str(tmp_path / "photo.png")) as server:
        token = {"X-Blindspot-Token": server.token}
        whole = _get(server, "/api/sound/0/talk.wav", token)
        assert whole.status == 200 and whole.body == path.read_bytes()
        assert whole.getheader("content-type") == "audio/wav"
        assert whole.getheader("cache-control") == "no-store"
        assert "media-src 'self'" in whole.getheader("content-security-policy")
        # the player seeks with ranges
        part = _get(server, "/api/sound/0/talk.wav", token | {"Range": "bytes=100-199"})
        assert part.status == 206 and part.body == path.read_bytes()[100:200]
        cookie = {"Cookie": f"blindspot_{server.port}={server.token}"}  # as <audio> asks
        assert _get(server, "/api/sound/0/talk.wav", cookie).status == 200
        assert _get(server, "/api/sound/0/talk.wav").status == 403
        for refused in ("/api/sound/0/../outside.wav", "/api/sound/0/..%2Foutside.wav",
                        "/api/sound/0/link.wav", "/api/sound/1/photo.png",
                        "/api/sound//etc/passwd", "/api/sound/0/%2Fetc%2Fpasswd",
                        "/api/thumb/0/talk.wav", "/api/frame/0/talk.wav"):
            response = _get(server, refused, token)
            assert response.status == 404, (refused, response.status)
            assert b"RIFF" not in response.body and b"PNG" not in response.body


# ---------------------------------------------------------------------------- the page


def test_the_page_shows_the_waveform_and_spans_and_exports_the_voices_chosen(browser, talk,
                                                                             tmp_path):
    from playwright.sync_api import expect
    _, sentences, rate = talk
    path = _fresh(talk, tmp_path)
    with ReviewServer(str(tmp_path)) as server:
        page, requests, problems = _open_page(browser, server)
        page.wait_for_selector("#waveSpans .band[data-id=s2]", timeout=120_000)
        review = server.opened("0/talk.wav")["review"]
        speech = review["speech"]
        assert [(s["id"], s["voice"]) for s in speech] == [("s1", "mute"), ("s2", "mute")]
        # a sound file: no picture, no face list; its sign in the file list
        assert page.locator("#fileList .thumb.sound").count() == 1
        assert page.locator("#fileList img").count() == 0
        expect(page.locator("#canvas")).to_be_hidden()
        expect(page.locator("#faces")).to_be_hidden()
        expect(page.locator("#soundInfo")).to_contain_text(f"{rate} Hz mono")

        # The waveform is drawn: tall in the sentences, a line in the silence between.
        canvas = page.locator("#wave")
        expect(canvas).to_have_attribute("data-drawn", str(BUCKETS))
        heights = canvas.evaluate("""c => {
            const g = c.getContext("2d"), d = g.getImageData(0, 0, c.width, c.height).data;
            const out = [];
            for (let x = 0; x < c.width; x++) {
                let n = 0;
                for (let y = 0; y < c.height; y++) n += d[4 * (y * c.width + x) + 3] > 0;
                out.push(n);
            }
            return out;
        }""")
        height = canvas.evaluate("c => c.height")

        def tallest(a: float, b: float) -> int:
            n = len(heights)
            return max(heights[round(a / review["sound"] * n):round(b / review["sound"] * n)])

        assert tallest(*sentences[0]) > height / 3 and tallest(*sentences[1]) > height / 3
        assert tallest(sentences[0][1] + 0.5, sentences[1][0] - 0.5) <= 3
        # each span lies over its sentence on the waveform
        box = page.locator("#waveBox").bounding_box()
        for span in speech:
            band = page.locator(f"#waveSpans .band[data-id={span['id']}]").bounding_box()
            assert abs((band["x"] - box["x"]) / box["width"] - span["start"] / review["sound"]
                       ) < 0.01
            assert abs((band["x"] + band["width"] - box["x"]) / box["width"]
                       - span["end"] / review["sound"]) < 0.01

        # Clicking a span in the list seeks the player to it.
        row = page.locator("#speechList li[data-id=s2]")
        row.locator(".what").click()
        expect(row).to_have_class(re.compile("selected"))
        assert abs(page.locator("#audio").evaluate("a => a.currentTime") - speech[1]["start"]
                   ) < 0.01
        head = page.locator("#playhead").bounding_box()
        assert abs((head["x"] + head["width"] / 2 - box["x"]) / box["width"]
                   - speech[1]["start"] / review["sound"]) < 0.01
        # The first sentence kept; the second stays muted.
        page.click("#speechList li[data-id=s1] button[data-voice=keep]")
        expect(page.locator("#waveSpans .band[data-id=s1]")).to_have_attribute("data-voice",
                                                                               "keep")
        expect(page.locator("#speechList li[data-id=s1]")).to_have_attribute("data-voice",
                                                                             "keep")
        # A drag across the middle of the first sentence marks it: muted, though the rest is kept.
        a, b = sentences[0]
        marked = (a + 0.35 * (b - a), a + 0.6 * (b - a))
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * marked[0] / review["sound"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * marked[1] / review["sound"], y, steps=8)
        page.mouse.up()
        page.wait_for_selector("#speechList li[data-id=m1][data-voice=mute]")
        assert page.locator("#waveSpans .band[data-id=m1][data-source=marked]").count() == 1
        state_file = tmp_path / "talk.anon.wav.review.json"
        saved = _wait_saved(state_file, lambda s: [(x["id"], x["voice"]) for x in s["speech"]]
                            == [("s1", "keep"), ("s2", "mute"), ("m1", "mute")])
        m1 = saved["speech"][2]
        assert abs(m1["start"] - marked[0]) < 0.03 and abs(m1["end"] - marked[1]) < 0.03
        page.screenshot(path="/tmp/review_sound.png")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "review-sound.png")
        _export(page)
        assert not problems, problems
        assert all(url.startswith(server.base + "/") for url in requests), requests
        assert any(url == f"{server.base}/api/sound/0/talk.wav" for url in requests)
    # the first sentence as it was but where marked, the second silent
    _check_output(tmp_path / "talk.anon.wav", path,
                  [(a, m1["start"]), (m1["end"], b), sentences[1]], rate, kept=(0, 1))
    before, after = sound_of(path)[0], sound_of(tmp_path / "talk.anon.wav")[0]
    inside = _part(rate, m1["start"] + 0.02, m1["end"] - 0.02)
    assert db(after[inside]) < db(before[inside]) - 60
