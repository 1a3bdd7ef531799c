"""The API key is checked from the headers, before the body is read; public paths stay open."""

from __future__ import annotations

import socket
import time

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import API_KEY
from tests.service.test_server import server  # noqa: F401  (the real uvicorn process)

UPLOAD_BYTES = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def anonymous(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_no_key_and_a_malformed_body_is_401_not_422(anonymous):
    response = anonymous.post("/v1/score", content=b'{"claim_id": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and response.json() == {"detail": "missing API key"}
    assert response.headers["www-authenticate"] == "APIKey"
    json = {"Content-Type": "application/json"}
    wrong = anonymous.post("/v1/score", content=b"{", headers=json | {"X-API-Key": "no"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "invalid API key"}
    right = anonymous.post("/v1/score", content=b"{", headers=json | {"X-API-Key": API_KEY})
    assert right.status_code in (400, 422)  # with the key, the body's own problem
    assert anonymous.post("/v1/worklists", files={"file": ("w.csv", b"x")}).status_code == 401
    assert anonymous.get("/v1/payers/AETNA").status_code == 401


def test_public_paths_stay_open(anonymous):
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc"):
        assert anonymous.get(path).status_code in (200, 503), path


@pytest.mark.anyio
async def test_the_body_is_never_received_without_a_key(settings):
    """The app itself, called as an ASGI server would: the first attempt to receive the body fails."""
    app = create_app(settings)
    sent: list[dict] = []

    async def receive():
        raise AssertionError("the body was read before the key was checked")

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/worklists",
        "raw_path": b"/v1/worklists",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"157286400")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 401


def test_a_large_upload_without_a_key_is_refused_at_once_over_http(server):  # noqa: F811
    """Over a real socket: the headers promise 150 MB, one block of it is sent, and the 401 comes back
    without the server waiting for the rest."""
    base, _, _ = server
    host, port = base.removeprefix("http://").split(":")
    head = (
        "POST /v1/worklists HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: multipart/form-data; boundary=recoup\r\n"
        f"Content-Length: {UPLOAD_BYTES}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        started = time.monotonic()
        connection.sendall(head + b"--recoup\r\n" + b"x" * (1024 * 1024))
        reply = b""
        while b"missing API key" not in reply:  # the head and the body may come in separate segments
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert b"missing API key" in reply
    assert waited < 20  # the remaining 149 MB were never needed
