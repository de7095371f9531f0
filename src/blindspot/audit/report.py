"""The audit's findings for people: a terminal table, JSON, and a self-contained HTML page.

The HTML page loads nothing: inline CSS, the output's thumbnails as data: URIs (PNG), and a
Content-Security-Policy that forbids everything else. It shows the OUTPUT only, never a pixel
of the original, and names files by their output only.

Over 400 lines, on purpose: every sentence the audit prints (terminal, JSON, HTML) for every
kind of finding in one place, so that no report words a finding differently or carries what was
read.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from PIL import Image

from ..wording import count
from .attack import AuditResult, AuditSettings, Leak, Reid
from .people import PersonLeft
from .sound import SoundCheck, SoundSettings, audit_speech_settings
from .text import TextLeft, readers
from .voice import VoiceCheck, VoiceMatch

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_DETECTORS = {"blindspot": "blindspot's detector", "dlib-hog": "dlib HOG",
              "dlib-cnn": "dlib CNN",
              "unchanged": "blindspot's detector in the original, left as it was in the output"}
_DETAILS = 10  # findings listed per file in the terminal


def describe_settings(s: AuditSettings) -> str:
    if s.every is None:
        frames = (f"videos sampled (every {s.sample_every}th frame, the last, and frames where "
                  "the original's faces appear, jump or are left unchanged; blindspot's tiles "
                  f"on one checked frame in {s.thorough_every} at most, dlib CNN on those or, "
                  "with the original, on the first)")
    else:
        frames = "every frame of videos" if s.every == 1 else f"every {s.every}th frame of videos"
    return (f"leak check: blindspot's detector ≥ {s.threshold}, dlib HOG ≥ {s.hog_threshold}, "
            f"dlib CNN ≥ {s.cnn_threshold} (on the image shrunk to ≤ "
            f"{s.cnn_max_pixels / 1e6:.1f} MP); {frames}; re-identification: dlib ResNet on "
            f"the faces the attacker finds in the output, a match is a distance < "
            f"{s.match_distance} and {s.impostor_margin} nearer than the impostors (the face "
            f"blacked out, the frame's other people); {describe_text(s)}; voices (videos "
            f"and sound files with the original): GE2E prints of each speech span, a match from "
            f"similarity {s.voice_threshold} and nearer the original's than blindspot's synthetic "
            f"voices (with the voice extra); {_describe_sound()}"
            + (f"; people: blindspot's person detector on the output (thorough frames), a "
               f"person from {s.person_threshold} is a FAIL" if "people" in s.cover else ""))


def describe_text(s: AuditSettings) -> str:
    """What the text check does, with which readers (one only without Tesseract)."""
    names = readers()
    if "text" not in s.cover and "plates" not in s.cover:
        return (f"text: reported, not failed (--cover faces): blindspot's reader ({names[0]}) "
                f"on its detector's boxes (on the thorough frames), readable from confidence "
                f"{s.text_confidence} and {s.text_min_chars} letters or digits; findings give "
                f"a word's place and length, never the word; --cover text or plates reads with "
                f"two readers")
    if len(names) > 1:
        who = (f"text: two readers, {names[1]} and {names[0]}, read the output (on the "
               f"thorough frames; upscaled, turned, round badges unrolled), readable from "
               f"confidence {s.text_tesseract_confidence} (Tesseract) and {s.text_confidence} "
               f"(blindspot's)")
        original = (f"{s.text_original_tesseract_confidence} and "
                    f"{s.text_original_confidence}")
    else:
        who = (f"text: checked with one reader only, blindspot's own ({names[0]}; Tesseract is "
               f"not installed: apt-get install tesseract-ocr tesseract-ocr-eng "
               f"tesseract-ocr-rus), on the thorough frames, readable from confidence "
               f"{s.text_confidence}")
        original = f"{s.text_original_confidence}"
    return (f"{who} and {s.text_min_chars} letters or digits; with the original, a word read "
            f"where the original has a word like it (from confidence {original}, edit distance "
            f"<= {s.text_similar}); findings give a word's place and length, never the word; a "
            f"FAIL for {_text_covered(s.cover)}")


def _describe_sound() -> str:
    k, speech = SoundSettings(), audit_speech_settings()
    return (f"sound left as it was (videos and sound files; needs the original): every "
            f"{k.frame * 1000:.0f} ms compared sample by sample, a FAIL where the audit's speech "
            f"finder (Silero VAD at threshold {speech.threshold:.2f}, {k.vad_scale:g}x the "
            f"product's) hears speech and the output carries the original's waveform "
            f"(correlation >= {k.same_waveform}, {k.sure_frames} frames >= {k.sure_waveform}) "
            f"within {k.level_drop_db:g} dB of its level; sound files get no face, text or "
            f"people checks")


def _text_covered(cover: tuple[str, ...]) -> str:
    if "text" in cover:
        return "any readable text (--cover text)"
    if "plates" in cover:
        return "plate-like strings (--cover plates)"
    return "nothing (--cover faces: text is reported only)"


def plain_verdict(r: AuditResult) -> str:
    """One or a few sentences a non-specialist can act on."""
    if r.passed:
        reid = ""
        if r.reid:
            reid = (f" The attacker found {count(len(r.reid), 'face-like region')} in the output "
                    "where "
                    "the original's faces are; none identifies the person (closest distance "
                    f"{r.min_distance:.2f}; a match needs under 0.6 and 0.15 nearer than the "
                    "same place blacked out).")
        elif r.faces_in_original:
            reid = (f" The re-identification attack found no face in the output where the "
                    f"original's {count(r.faces_in_original, 'face')} are: nothing to compare.")
        if r.faces_too_small:
            small = r.faces_too_small
            reid += (f" {count(small, 'face')} of the original {'was' if small == 1 else 'were'} "
                     "too small for the recognizer (under 40 px) and left to the leak check.")
        voice = "" if r.voice is None else " " + _voice_summary(r.voice)
        sound = "" if r.sound is None else " " + _sound_summary(r.sound)
        text = ""
        if r.text:
            text = (f" Readable text is left ({_places(r.text)}): if it names a person or a "
                    "vehicle, anonymize with --cover text.")
        found = ("no sample of the original's speech is left as it was in the output and it "
                 if r.sound_only and r.sound is not None and r.sound.original_given else
                 "the output " if r.sound_only else "no face was found in the output and it ")
        return (f"PASS: {found}carries no identifying metadata.{reid}{voice}{sound}{text} This "
                "is a lower bound on the risk, not a proof of safety: stronger detectors and "
                "recognizers than these exist.")
    parts = []
    if r.leaks:
        frames = sorted({leak.frame for leak in r.leaks})
        where = f" ({'frame' if len(frames) == 1 else 'frames'} {_frame_list(frames)})" \
            if r.frames > 1 else ""
        parts.append(f"a face can still be found in the output{where}")
    if r.matches:
        closest = min(m.distance for m in r.matches)
        parts.append(f"{count(len(r.matches), 'face')} found in the output still "
                     f"{'identifies' if len(r.matches) == 1 else 'identify'} the "
                     f"original's person (closest distance {closest:.2f}: under 0.6 and clearly "
                     "nearer than the same place blacked out)")
    if r.metadata:
        parts.append(f"identifying metadata is left: {', '.join(r.metadata[:8])}"
                     + (" …" if len(r.metadata) > 8 else ""))
    if r.text_failing:
        plates = "plate-like text" if all(t.plate_like for t in r.text_failing) else "text"
        parts.append(f"{plates} it was meant to cover can still be read: "
                     f"{_places(r.text_failing)}")
    if r.voice is not None and r.voice.matches:
        spans = "span" if len(r.voice.compared) == 1 else "spans"
        parts.append(f"the voice in {len(r.voice.matches)} of {len(r.voice.compared)} speech "
                     f"{spans} still matches the original's speaker (similarity up to "
                     f"{r.voice.max_similarity:.2f}): use --voice mute")
    if r.people:
        parts.append(f"{count(len(r.people), 'person', 'people')} it was meant to cover "
                     "can still be seen "
                     "(--cover people)")
    if r.sound is not None and r.sound.leaks:
        parts.append(f"the original's speech is left as it was, sample for sample, at "
                     f"{_times(r.sound.leaks)} ({r.sound.leak_seconds:.2f} s in all): mute "
                     "or disguise it again")
    return "FAIL: " + "; ".join(parts) + ". Do not publish this file as it is."


def _times(leaks, most: int = 6) -> str:
    shown = ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in leaks[:most])
    return shown + (f" and {len(leaks) - most} more" if len(leaks) > most else "")


def _sound_summary(k: SoundCheck) -> str:
    """What the sample-level check found, when it found no leak."""
    if not k.original_given:
        if not k.speech:
            return "No speech was found in the output's sound."
        return (f"Speech was found in the output's sound ({k.speech_seconds:.1f} s of "
                f"{k.duration:.1f} s, from {k.speech[0].start:.1f} s): without the original "
                "the audit cannot tell whether it is the original voice or a disguised one. "
                "The sample-level check needs the original: give it with --original.")
    return (f"The sound was compared with the original's sample by sample "
            f"({k.duration:.1f} s; speech heard in {k.speech_seconds:.1f} s): none of the "
            "original's speech is left as it was.")


_READERS = {"tesseract": "Tesseract", "pp-ocr": "blindspot's reader"}


def _places(found: list[TextLeft], most: int = 5) -> str:
    """Where the words are and how long, never what they say (the report must not leak)."""
    shown = ", ".join(f"{t.length} characters at x {t.box[0]:.0f}, y {t.box[1]:.0f}"
                      + (f" (frame {t.frame})" if t.frame else "") for t in found[:most])
    return shown + (f" and {len(found) - most} more" if len(found) > most else "")


def _text_text(t: TextLeft, video: bool) -> str:
    x, y, w, h = t.box
    frame = f"frame {t.frame}: " if video else ""
    plate = ", plate-like" if t.plate_like else ""
    where = ", where the original has a word like it" if t.in_original else ""
    return (f"{frame}a word of {t.length} letters or digits read by "
            f"{_READERS.get(t.reader, t.reader)} (confidence {t.confidence:.2f}{plate}{where}) "
            f"at x {x:.0f}, y {y:.0f}, w {w:.0f}, h {h:.0f}")


def _person_text(p: PersonLeft, video: bool) -> str:
    x, y, w, h = p.box
    frame = f"frame {p.frame}: " if video else ""
    return (f"{frame}person found by blindspot's person detector (score {p.score:.2f}) at "
            f"x {x:.0f}, y {y:.0f}, w {w:.0f}, h {h:.0f}")


def _voice_summary(v: VoiceCheck) -> str:
    """What the speaker check found, when it found no match."""
    if not v.compared:
        return (f"No speech is left where the original's {v.speech_seconds:.0f} s of speech "
                "are: the speaker check had nothing to compare.")
    return (f"The speaker recognizer compared {count(len(v.compared), 'speech span')} with the "
            f"original's: none matches the speaker (highest similarity "
            f"{v.max_similarity:.2f}).")


def _match_text(m: VoiceMatch) -> str:
    said = "MATCH, the voice still identifies the speaker" if m.match else "no match"
    return (f"speech {m.start:.1f}–{m.end:.1f} s: similarity {m.similarity:.2f} to the "
            f"original's speaker ({said})")


def _sound_leak_text(start: float, end: float) -> str:
    return (f"sound {start:.2f}–{end:.2f} s: the original's speech left as it was (same "
            "waveform, same level)")


def _frame_list(frames: list[int]) -> str:
    shown = ", ".join(map(str, frames[:12]))
    return shown + (f" and {len(frames) - 12} more" if len(frames) > 12 else "")


def _leak_text(leak: Leak, video: bool) -> str:
    x, y, w, h = leak.box
    frame = f"frame {leak.frame}: " if video else ""
    return (f"{frame}face found by {_DETECTORS[leak.detector]} (score {leak.score:.2f}) at "
            f"x {x:.0f}, y {y:.0f}, w {w:.0f}, h {h:.0f}")


def _reid_text(r: Reid, video: bool) -> str:
    x, y, w, h = r.box
    frame = f"frame {r.frame}: " if video else ""
    said = "MATCH, still identifies the person" if r.match else "no match"
    return (f"{frame}face found by {_DETECTORS[r.detector]} at x {x:.0f}, y {y:.0f}, w {w:.0f}, "
            f"h {h:.0f}, where the original has a face: distance {r.distance:.3f}, nearest "
            f"impostor {r.impostor:.3f} ({said})")


# ---------------------------------------------------------------------------- terminal


def _voice_cell(v: VoiceCheck | None) -> str:
    if v is None:
        return "-"
    if not v.compared:
        return "no speech left"
    return f"{len(v.matches)} of {len(v.compared)} ({v.max_similarity:.2f})"


def _sound_cell(k: SoundCheck | None) -> str:
    if k is None:
        return "-"
    if not k.original_given:
        return f"speech {k.speech_seconds:.1f} s (no original)" if k.speech else \
            "no speech (no original)"
    if not k.leaks:
        return "none"
    return f"{len(k.leaks)} ({k.leak_seconds:.2f} s)"


def terminal_table(results: list[AuditResult], settings: AuditSettings) -> str:
    # Columns of their own when people were checked, when a voice was, and when a sound was
    people = "people" in settings.cover
    voices = any(r.voice is not None for r in results)
    sounds = any(r.sound is not None for r in results)
    rows = [("FILE", "LEAKS", "RE-ID MATCHES (MIN DIST)", "TEXT READ (FAIL)",
             *(("PEOPLE LEFT",) if people else ()),
             *(("VOICE MATCHES (MAX SIM)",) if voices else ()),
             *(("SOUND LEFT AS IT WAS",) if sounds else ()), "METADATA", "VERDICT")]
    for r in results:
        reid = "-" if r.original is None else (
            f"{len(r.matches)} of {len(r.reid)}"
            + (f" ({r.min_distance:.3f})" if r.min_distance is not None else ""))
        meta = ", ".join(r.metadata[:3]) + (" …" if len(r.metadata) > 3 else "") \
            if r.metadata else "none"
        text = f"{len(r.text)} ({len(r.text_failing)})"
        leaks = str(len(r.leaks))
        if r.sound_only:  # no pictures: the face, re-identification and text checks do not apply
            leaks = reid = text = "n/a (sound)"
        rows.append((str(r.output), leaks, reid, text,
                     *(("n/a (sound)" if r.sound_only else str(len(r.people)),) if people else ()),
                     *((_voice_cell(r.voice),) if voices else ()),
                     *((_sound_cell(r.sound),) if sounds else ()), meta, r.verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [describe_settings(settings)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    for r in results:
        video = r.frames > 1
        found = [_leak_text(leak, video) for leak in r.leaks]
        found += [_reid_text(m, video) for m in r.matches]
        found += [_text_text(t, video) for t in r.text_failing]
        found += [_person_text(p, video) for p in r.people]
        found += [_match_text(m) for m in (r.voice.matches if r.voice else [])]
        found += [_sound_leak_text(a, b) for a, b in (r.sound.leaks if r.sound else ())]
        if r.sound is not None and not r.sound.original_given:
            found.append(_sound_summary(r.sound))
        for text in found[:_DETAILS]:
            lines.append(f"  {r.output}: {text}")
        if len(found) > _DETAILS:
            lines.append(f"  {r.output}: … and {len(found) - _DETAILS} more (--json for all)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- JSON


def json_report(results: list[AuditResult], settings: AuditSettings,
                errors: list[str] | None = None) -> str:
    data = {"settings": {k: v for k, v in vars(settings).items()
                         if k not in ("thumbnails", "thumbnail_side")},
            "files": [r.to_dict() for r in results], "errors": errors or []}
    return json.dumps(data, indent=1, ensure_ascii=False)


# ---------------------------------------------------------------------------- HTML

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin:0 0 .4em}
section{border:2px solid #bbb;border-radius:6px;padding:1em;margin:1.2em 0}
section.FAIL{border-color:#c00}section.PASS{border-color:#080}
.verdict{font-weight:700;padding:.1em .5em;border-radius:4px;color:#fff}
.FAIL .verdict{background:#c00}.PASS .verdict{background:#080}
.plain{font-size:1.05em}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
.frame{position:relative;display:inline-block;line-height:0}
.frame img{display:block;max-width:100%}
.box{position:absolute;border:2px solid #f0f;box-sizing:border-box}
.box.match{border-color:#f00}.box.nomatch{border:2px dashed #0a0}
figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;font-size:.9em}
.note{color:#555;font-size:.9em}.error{color:#c00}
"""


def html_report(results: list[AuditResult], settings: AuditSettings,
                errors: list[str] | None = None) -> str:
    failed = sum(not r.passed for r in results)
    head = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width">'
            f"<title>blindspot audit</title><style>{_STYLE}</style></head><body>")
    body = ["<h1>blindspot audit</h1>",
            f"<p><b>{count(len(results), 'file')} audited: {len(results) - failed} PASS, {failed} "
            f"FAIL</b>{_errors_summary(errors)}.</p>",
            f'<p class="note">{html.escape(describe_settings(settings))}. Pictures show the '
            "audited output only (boxes: magenta = face found, red = re-identified, dashed "
            "green = a face-like region the attacker tried, no match). Stronger recognizers "
            "than dlib's exist: a PASS is a lower bound on the risk.</p>"]
    body += [_section(r) for r in results]
    body += [f'<p class="error">Not audited: {html.escape(e)}</p>' for e in errors or []]
    return head + "\n".join(body) + "</body></html>\n"


def _errors_summary(errors: list[str] | None) -> str:
    return f", {len(errors)} could not be audited" if errors else ""


def _section(r: AuditResult) -> str:
    video = r.frames > 1
    parts = [f'<section class="{r.verdict}"><h2>{html.escape(str(r.output))} '
             f'<span class="verdict">{r.verdict}</span></h2>',
             f'<p class="plain">{html.escape(plain_verdict(r))}</p>']
    for view in r.views:
        parts.append(_figure(r, view, video))
    rows = [("leak", _leak_text(leak, video)) for leak in r.leaks]
    rows += [("re-identification", _reid_text(x, video)) for x in r.reid]
    rows += [("text" + (" (FAIL)" if t in r.text_failing else ""), _text_text(t, video))
             for t in r.text]
    rows += [("person left", _person_text(p, video)) for p in r.people]
    rows += [("voice" + (" (FAIL)" if m.match else ""), _match_text(m))
             for m in (r.voice.compared if r.voice else ())]
    rows += [("sound (FAIL)", _sound_leak_text(a, b))
             for a, b in (r.sound.leaks if r.sound else ())]
    if r.sound is not None and not r.sound.leaks:
        rows.append(("sound", _sound_summary(r.sound)))
    rows += [("metadata", f"{tag} ({r.metadata_source})") for tag in r.metadata]
    if rows:
        parts.append("<table><tr><th>check</th><th>finding</th></tr>" + "".join(
            f"<tr><td>{kind}</td><td>{html.escape(text)}</td></tr>" for kind, text in rows)
            + "</table>")
    checked = (f"{r.frames_checked} of {r.frames} frames checked" if video
               else "1 picture checked")
    if r.sound_only:
        checked = ("a sound file: no pictures, so the face, re-identification, text and people "
                   "checks do not apply")
    parts.append(f'<p class="note">{checked}; metadata read with {r.metadata_source}.</p>')
    return "\n".join(parts) + "</section>"


def _figure(r: AuditResult, view, video: bool) -> str:
    h, w = view.rgb.shape[:2]
    boxes = [(leak.box, "box", f"{_DETECTORS[leak.detector]} {leak.score:.2f}")
             for leak in r.leaks if leak.frame == view.frame]
    boxes += [(x.box, "box match" if x.match else "box nomatch", f"distance {x.distance:.2f}")
              for x in r.reid if x.frame == view.frame]
    boxes += [(t.box, "box" if t in r.text_failing else "box nomatch",
               f"text read: {t.length} characters") for t in r.text if t.frame == view.frame]
    boxes += [(p.box, "box", f"person {p.score:.2f}") for p in r.people if p.frame == view.frame]
    divs = []
    for (x, y, bw, bh), cls, title in boxes:
        k = view.scale
        style = (f"left:{100 * x * k / w:.2f}%;top:{100 * y * k / h:.2f}%;"
                 f"width:{100 * bw * k / w:.2f}%;height:{100 * bh * k / h:.2f}%")
        divs.append(f'<div class="{cls}" style="{style}" title="{html.escape(title)}"></div>')
    caption = f"frame {view.frame}" if video else "output"
    return (f'<figure><div class="frame"><img alt="{caption} of the output" width="{w}" '
            f'height="{h}" src="{_data_uri(view.rgb)}">{"".join(divs)}</div>'
            f"<figcaption>{caption}</figcaption></figure>")


def _data_uri(rgb) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_html(path: Path, results: list[AuditResult], settings: AuditSettings,
               errors: list[str] | None = None) -> None:
    from ..media.atomic import atomic_output
    with atomic_output(path, overwrite=True) as f:
        f.write(html_report(results, settings, errors).encode("utf-8"))
