"""`blindspot review`: a local page to check every face and voice before publishing, fix what
detection got wrong, and export through the same pipeline as the command line. Photos and
videos show their pictures; a sound file its waveform, its speech spans and a player; a span
to revoice, the words its new voice will say, to edit.

`session` holds the files, their reviews and pictures; `state` the review of one file and its
small JSON file; `waveform` a sound's levels for the page; `server` the web server and its
guards; `static/` the page (no remote assets).
"""

from __future__ import annotations

from .server import build_app, serve
from .session import Session

__all__ = ["Session", "build_app", "serve"]
