"""The ASGI guard: API key (health stays open) and 413 for oversize bodies, with or without
Content-Length, before the endpoint sees them."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.guard import GuardMiddleware, sweep_orphan_uploads


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def _ready(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@pytest.fixture
def client(monkeypatch):
    monkeypatch.delenv("GUARD_TEST_KEY", raising=False)
    app = Starlette(routes=[Route("/upload", _echo, methods=["POST"]), Route("/readyz", _ready)])
    return TestClient(GuardMiddleware(app, max_bytes=1000, api_key_env="GUARD_TEST_KEY"))


def test_size_limit_by_header_and_while_streaming(client):
    assert client.post("/upload", content=b"x" * 1000).json() == {"bytes": 1000}
    r = client.post("/upload", content=b"x" * 1001)
    assert r.status_code == 413 and r.json()["error"] == "too_large"

    def chunks():
        for _ in range(5):
            yield b"y" * 300

    r = client.post("/upload", content=chunks())  # no Content-Length: counted while it streams
    assert r.status_code == 413 and "upload limit" in r.json()["detail"]


def test_api_key_guards_all_but_health(client, monkeypatch):
    assert client.post("/upload", content=b"a").status_code == 200  # no key configured: open
    monkeypatch.setenv("GUARD_TEST_KEY", "s3cret")
    assert client.post("/upload", content=b"a").status_code == 401
    assert client.post("/upload", content=b"a", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.post("/upload", content=b"a", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_metrics_need_the_key_when_one_is_set(monkeypatch):
    async def _metrics(request: Request) -> JSONResponse:
        return JSONResponse({"metrics": 1})

    monkeypatch.delenv("GUARD_TEST_KEY", raising=False)
    app = Starlette(routes=[Route("/metrics", _metrics), Route("/readyz", _ready)])
    client = TestClient(GuardMiddleware(app, max_bytes=1000, api_key_env="GUARD_TEST_KEY"))
    assert client.get("/metrics").status_code == 200  # no key configured: open
    monkeypatch.setenv("GUARD_TEST_KEY", "s3cret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/readyz").status_code == 200  # health checks stay open for the orchestrator


def test_the_reviewer_page_is_open_but_only_to_reads(monkeypatch):
    """A browser opening /ui cannot send X-API-Key: the static page is open to GET; anything else
    under /ui, and paths that merely start with the same letters, still need the key."""

    async def _page(request: Request) -> JSONResponse:
        return JSONResponse({"page": request.url.path})

    monkeypatch.setenv("GUARD_TEST_KEY", "s3cret")
    routes = [Route(p, _page, methods=["GET", "POST"]) for p in ("/ui", "/ui/reviewer.js", "/uix", "/model")]
    client = TestClient(GuardMiddleware(Starlette(routes=routes), max_bytes=1000, api_key_env="GUARD_TEST_KEY"))
    assert client.get("/ui").status_code == 200 and client.get("/ui/reviewer.js").status_code == 200
    assert client.post("/ui/reviewer.js", content=b"a").status_code == 401
    assert client.get("/uix").status_code == 401 and client.get("/model").status_code == 401


def test_uploads_left_by_a_killed_server_are_swept(tmp_path):
    """A SIGKILL mid-request leaves the upload in BentoML's request temp dir; the next start deletes
    files older than the request timeout (no live request is that old) and keeps the pooled dirs."""
    import os
    import time

    old_dir, live_dir = tmp_path / "bentoml-request-aaa", tmp_path / "bentoml-request-bbb"
    old_dir.mkdir()
    live_dir.mkdir()
    (old_dir / "tmp12345678clip.mp4").write_bytes(b"x")
    os.utime(old_dir / "tmp12345678clip.mp4", (time.time() - 400, time.time() - 400))
    (live_dir / "tmp87654321face.jpg").write_bytes(b"y")
    (tmp_path / "someone-else.txt").write_bytes(b"z")
    os.utime(tmp_path / "someone-else.txt", (time.time() - 400, time.time() - 400))
    assert sweep_orphan_uploads(tmp_path, older_than_s=300) == 1
    assert old_dir.is_dir() and not any(old_dir.iterdir())
    assert (live_dir / "tmp87654321face.jpg").exists() and (tmp_path / "someone-else.txt").exists()
