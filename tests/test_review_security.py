"""The review server's guards, against the real server: no token, a foreign Host header (DNS
rebinding), a cookie without the header, a foreign Origin and paths outside the folders given
are all refused; every answer carries a CSP that allows no other origin; no token in the logs.
"""

from __future__ import annotations

import http.client
import json
import os

import numpy as np
import pytest
from PIL import Image
from test_review import ReviewServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-security")
    inside = root / "inside"
    inside.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    Image.fromarray(pixels).save(inside / "photo.png")
    Image.fromarray(pixels).save(root / "outside.png")
    os.symlink(root / "outside.png", inside / "link.png")  # a link out of the folder given
    server = ReviewServer(str(inside))
    server.root = root
    server.opened("0/photo.png")
    yield server
    log = server.stop()
    # The token is printed once (the address to open) and appears in no log line.
    assert log.count(server.token) == 1, log


def _request(server, method: str, path: str, headers: dict | None = None, body: object = None
             ) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Host": f"127.0.0.1:{server.port}"} | (headers or {})
    data = None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def _token(server) -> dict:
    return {"X-Blindspot-Token": server.token}


def _cookie(server) -> dict:
    return {"Cookie": f"blindspot_{server.port}={server.token}"}


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/files", "/api/file/0/photo.png",
                                  "/api/thumb/0/photo.png", "/api/frame/0/photo.png",
                                  "/api/export"])
def test_requests_without_the_token_are_refused(server, path):
    assert _request(server, "GET", path).status == 403
    wrong = {"X-Blindspot-Token": "x" * len(server.token)}
    assert _request(server, "GET", path, wrong).status == 403
    assert _request(server, "GET", path, {"Cookie": f"blindspot_{server.port}=nope"}).status == 403
    assert _request(server, "GET", path, _token(server)).status == 200


def test_the_printed_address_trades_the_token_for_a_cookie(server):
    response = _request(server, "GET", f"/?token={server.token}")
    assert response.status == 303 and response.getheader("location") == "/"
    cookie = response.getheader("set-cookie")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = _request(server, "GET", "/", _cookie(server))
    assert page.status == 200 and b"<title>blindspot review</title>" in page.body
    assert _request(server, "GET", "/?token=wrong").status == 403


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{8080}", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "192.168.1.5", "[::1]", ""])
def test_a_foreign_host_header_is_refused_even_with_the_token(server, host):
    response = _request(server, "GET", "/api/files", _token(server) | {"Host": host})
    assert response.status in (400, 403)
    assert b"photo.png" not in response.body


def test_localhost_is_a_host_the_page_may_use(server):
    headers = _token(server) | {"Host": f"localhost:{server.port}"}
    assert _request(server, "GET", "/api/files", headers).status == 200


def test_state_changes_need_the_token_header_not_only_the_cookie(server):
    review = _opened(server)
    path = "/api/file/0/photo.png"
    assert _request(server, "PUT", path, _cookie(server), review).status == 403
    assert _request(server, "POST", "/api/export", _cookie(server), {}).status == 403
    foreign = _token(server) | {"Origin": "http://evil.example"}
    assert _request(server, "PUT", path, foreign, review).status == 403
    assert _request(server, "PUT", path, _token(server), review).status == 200


def _opened(server) -> dict:
    return server.opened("0/photo.png")["review"]


@pytest.mark.parametrize("path", [
    "/api/file/0/../outside.png", "/api/file/0/%2E%2E/outside.png", "/api/file/0/..%2Foutside.png",
    "/api/thumb/0/../outside.png", "/api/frame/0/..%2F..%2Foutside.png",
    "/api/file/0/link.png", "/api/thumb/0/link.png", "/api/file/1/outside.png",
    "/api/thumb//etc/passwd", "/api/file/0//etc/passwd", "/api/thumb/0/%2Fetc%2Fpasswd",
    "/static/../session.py", "/static/%2E%2E%2Fsession.py", "/static/index.html",
])
def test_paths_outside_the_folders_given_are_refused(server, path):
    response = _request(server, "GET", path, _token(server))
    assert response.status == 404, (path, response.status)
    assert not response.body.startswith(b"\x89PNG") and b"JFIF" not in response.body[:20]


def test_a_link_out_of_the_folder_is_not_listed(server):
    listing = json.loads(_request(server, "GET", "/api/files", _token(server)).body)
    assert [f["name"] for f in listing["files"]] == ["photo.png"]
    assert any("link.png" in p and "outside" in p for p in listing["problems"])


def test_export_keys_must_name_files_of_the_session(server):
    body = {"keys": ["0/../outside.png"], "overwrite": False}
    assert _request(server, "POST", "/api/export", _token(server), body).status == 404
    assert not (server.root / "outside.anon.png").exists()


def test_every_answer_forbids_other_origins(server):
    for response in (_request(server, "GET", "/", _token(server)),
                     _request(server, "GET", "/api/files"),
                     _request(server, "GET", "/static/app.js", _token(server))):
        csp = response.getheader("content-security-policy")
        assert "default-src 'none'" in csp and "http" not in csp and "*" not in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert response.getheader("cache-control") == "no-store"
        assert response.getheader("referrer-policy") == "no-referrer"


def test_the_page_names_no_other_origin():
    """The assets themselves reference nothing remote (the e2e tests check every request)."""
    from importlib import resources
    static = resources.files("blindspot.review").joinpath("static")
    for name in ("index.html", "app.js", "app.css"):
        text = static.joinpath(name).read_text()
        remote = [line for line in text.splitlines()
                  if "://" in line and "http://www.w3.org/2000/svg" not in line]
        assert not remote, (name, remote)  # the SVG namespace is a name, never fetched
        assert "@import" not in text and "@font-face" not in text and "url(" not in text
