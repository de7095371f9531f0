"""The review page's web server: Starlette on uvicorn, bound to 127.0.0.1 only.

Every request must carry the session's random token: the address printed at start holds it
once; the page then has it as an HttpOnly cookie (for pictures) and in a header that scripts
set (state-changing requests must have the header, a cookie alone is refused, so another site
cannot make the browser change anything). The Host header must name 127.0.0.1 or localhost,
which defeats DNS rebinding. A Content-Security-Policy allows this origin only, and nothing is
cached (face pictures never land in the browser's disk cache). Files are named by the keys the
session made at start, never by a path; a sound file is played from the file itself, as it is
(ranges served for seeking), and only a sound file of the session. uvicorn's access log is off:
no token in any log.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from importlib import resources

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BlindspotError
from ..wording import count
from .session import NotFound, Session
from .state import StateError

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
TOKEN_HEADER = "x-blindspot-token"
MAX_BODY = 32 << 20  # bytes: a review of a long video with many faces, and then some
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
# What the page's <audio> is told a sound file is, by its extension (blindspot.media.sound).
SOUND_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg",
               ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
               ".oga": "audio/ogg", ".opus": "audio/ogg"}


class TokenGuard:
    """Refuse requests without the token; add the security headers to every response."""

    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.cookie = f"blindspot_{port}"
        self.origins = {f"http://{host}:{port}" for host in ALLOWED_HOSTS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await PlainTextResponse(refusal, 403)(scope, receive, send_secured)
            return
        if request.url.path == "/" and "token" in request.query_params:
            # The printed address: trade the token in the URL for a cookie, and drop it from
            # the address bar and the history.
            response = RedirectResponse("/", 303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def _refusal(self, request: Request) -> str | None:
        header = request.headers.get(TOKEN_HEADER, "")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and origin not in self.origins:
                return "refused: foreign origin"
            return None if self._matches(header) else "refused: token header missing or wrong"
        if self._matches(header) or self._matches(request.cookies.get(self.cookie, "")):
            return None
        if request.url.path == "/" and self._matches(request.query_params.get("token", "")):
            return None
        return "refused: open the address that `blindspot review` printed (it holds the token)"

    def _matches(self, given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())


def build_app(session: Session, token: str, port: int) -> Starlette:
    """The review page's ASGI app for `session`, open to holders of `token` on `port`."""
    page = _asset("index.html").replace("{{TOKEN}}", token)

    def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("no such file", 404)
        return Response(_asset(name), media_type=f"{STATIC[name]}; charset=utf-8")

    def files(request: Request) -> Response:
        return JSONResponse(session.page(_int(request, "page", 0)))

    def file(request: Request) -> Response:
        return JSONResponse(session.open(request.path_params["key"]))

    async def update(request: Request) -> Response:
        data = await _json(request)
        return JSONResponse(session.update(request.path_params["key"], data))

    def thumb(request: Request) -> Response:
        return _jpeg(session.thumbnail(request.path_params["key"]))

    def frame(request: Request) -> Response:
        return _jpeg(session.frame(request.path_params["key"], _int(request, "n", 0),
                                   request.query_params.get("anon") == "1"))

    def sound(request: Request) -> Response:
        path = session.sound_file(request.path_params["key"])
        media_type = SOUND_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media_type)

    def face(request: Request) -> Response:
        return _jpeg(session.face_thumbnail(request.path_params["key"],
                                            request.query_params.get("id", ""),
                                            _int(request, "i", 0)))

    async def export(request: Request) -> Response:
        data = await _json(request)
        if not isinstance(data, dict):
            raise StateError("send {\"keys\": [...], \"overwrite\": true|false}")
        keys = data.get("keys")
        if keys is not None and not (isinstance(keys, list)
                                     and all(isinstance(k, str) for k in keys)):
            raise StateError("keys must be a list of file keys")
        session.start_export(keys, bool(data.get("overwrite", False)))
        return JSONResponse(session.export_status(), 202)

    def export_status(request: Request) -> Response:
        return JSONResponse(session.export_status())

    def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", _handled(index)),
        Route("/favicon.ico", no_icon),
        Route("/static/{name}", _handled(static)),
        Route("/api/files", _handled(files)),
        Route("/api/file/{key:path}", _handled(file)),
        Route("/api/file/{key:path}", _handled(update), methods=["PUT"]),
        Route("/api/thumb/{key:path}", _handled(thumb)),
        Route("/api/frame/{key:path}", _handled(frame)),
        Route("/api/face/{key:path}", _handled(face)),
        Route("/api/sound/{key:path}", _handled(sound)),
        Route("/api/export", _handled(export), methods=["POST"]),
        Route("/api/export", _handled(export_status)),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS),
        Middleware(TokenGuard, token=token, port=port),
    ]
    return Starlette(routes=routes, middleware=middleware)


def _handled(endpoint: Callable) -> Callable:
    """`endpoint` with the session's errors turned into JSON answers."""
    import inspect

    def answer(error: Exception) -> Response:
        if isinstance(error, NotFound):
            return JSONResponse({"error": "no such file or face in this review"}, 404)
        if isinstance(error, StateError):
            return JSONResponse({"error": str(error)}, 422)
        if isinstance(error, BlindspotError):
            return JSONResponse({"error": str(error)}, 422)
        return JSONResponse({"error": str(error)}, 409)  # RuntimeError: export running

    errors = (NotFound, StateError, BlindspotError, RuntimeError)
    if inspect.iscoroutinefunction(endpoint):
        async def run_async(request: Request) -> Response:
            try:
                return await endpoint(request)
            except errors as e:
                return answer(e)
        return run_async

    def run(request: Request) -> Response:
        try:
            return endpoint(request)
        except errors as e:
            return answer(e)
    return run


async def _json(request: Request) -> object:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise StateError("request too large")
    try:
        return json.loads(body)
    except ValueError:
        raise StateError("the request is not JSON") from None


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise StateError(f"{name} must be a whole number") from None


def _jpeg(data: bytes) -> Response:
    return Response(data, media_type="image/jpeg")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def serve(session: Session, port: int = 0, open_browser: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Serve the review page on 127.0.0.1:`port` (0: a free one) until interrupted."""
    token = secrets.token_urlsafe(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)  # connections wait from now on, before uvicorn has started
    except OSError as e:
        sock.close()
        raise BlindspotError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
    port = sock.getsockname()[1]
    app = build_app(session, token, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    url = f"http://127.0.0.1:{port}/?token={token}"
    announce(f"blindspot review: {count(len(session.entries), 'file')} at {url}  "
             "(Ctrl+C to stop)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        session.close()
