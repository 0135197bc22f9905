"""The ASGI guard: API key (health stays open) and 413 for oversize bodies, with or without
Content-Length, before the endpoint sees them."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.guard import GuardMiddleware, KeyConfigError, check_keys, sweep_orphan_uploads


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def _ready(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


OCTET = {"Content-Type": "application/octet-stream"}  # a type only a script with a preflight may send


@pytest.fixture
def client(monkeypatch):
    monkeypatch.delenv("GUARD_TEST_KEY", raising=False)
    monkeypatch.delenv("GUARD_TEST_ADMIN", raising=False)
    routes = [
        Route("/upload", _echo, methods=["POST"]),
        Route("/reload", _echo, methods=["POST"]),
        Route("/review_items", _echo, methods=["POST"]),
        Route("/review_label", _echo, methods=["POST"]),
        Route("/readyz", _ready),
    ]
    return TestClient(GuardMiddleware(Starlette(routes=routes), 1000, "GUARD_TEST_KEY", "GUARD_TEST_ADMIN"))


def test_size_limit_by_header_and_while_streaming(client):
    assert client.post("/upload", content=b"x" * 1000, headers=OCTET).json() == {"bytes": 1000}
    r = client.post("/upload", content=b"x" * 1001, headers=OCTET)
    assert r.status_code == 413 and r.json()["error"] == "too_large"

    def chunks():
        for _ in range(5):
            yield b"y" * 300

    r = client.post("/upload", content=chunks(), headers=OCTET)  # no Content-Length: counted while it streams
    assert r.status_code == 413 and "upload limit" in r.json()["detail"]


def test_api_key_guards_all_but_health(client, monkeypatch):
    assert client.post("/upload", content=b"a", headers=OCTET).status_code == 200  # no key configured: open
    monkeypatch.setenv("GUARD_TEST_KEY", "s3cret")
    assert client.post("/upload", content=b"a", headers=OCTET).status_code == 401
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


SIMPLE = [
    {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
    {"data": {"a": "b"}},  # application/x-www-form-urlencoded, what a <form> posts
    {"files": {"file": ("x.jpg", b"123")}},  # multipart/form-data, a <form enctype=multipart>
    {"content": b"{}"},  # no Content-Type at all (fetch with a Blob body)
]


@pytest.mark.parametrize("request_kwargs", SIMPLE)
def test_cross_site_simple_requests_without_the_key_header_are_refused_even_when_open(client, request_kwargs):
    refused = client.post("/upload", **request_kwargs)
    assert refused.status_code == 403 and "X-API-Key" in refused.json()["detail"]
    headers = {**request_kwargs.pop("headers", {}), "X-API-Key": ""}  # open server: the header alone will do
    assert client.post("/upload", headers=headers, **request_kwargs).status_code == 200


def test_reload_needs_the_admin_key_and_is_off_without_one(client, monkeypatch):
    json_body = {"json": {}}
    off = client.post("/reload", **json_body)
    assert off.status_code == 403 and "GUARD_TEST_ADMIN" in off.json()["detail"]  # no admin key: closed
    monkeypatch.setenv("GUARD_TEST_KEY", "score-key")
    monkeypatch.setenv("GUARD_TEST_ADMIN", "admin-key")
    assert client.post("/reload", headers={"X-API-Key": "score-key"}, **json_body).status_code == 401
    assert client.post("/reload", **json_body).status_code == 401
    r = client.post("/reload", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 401  # the review's text/plain POST to /reload
    assert client.post("/reload", headers={"X-API-Key": "admin-key"}, **json_body).status_code == 200
    assert client.post("/upload", headers={"X-API-Key": "admin-key"}, content=b"a").status_code == 200  # admin scores


@pytest.mark.parametrize(
    "environ, host, needle",
    [
        ({"K": ""}, "127.0.0.1", "K is set but empty"),
        ({"K": "  "}, None, "K is set but empty"),
        ({"K": "x", "A": ""}, "0.0.0.0", "A is set but empty"),
        ({}, "0.0.0.0", "refusing to serve on 0.0.0.0 without a key"),
        ({}, "192.168.1.7", "set K"),
        ({}, "serving", "refusing to serve on serving"),
        ({"A": "admin"}, "::", "set K"),
    ],
)
def test_the_service_refuses_to_start_open_or_with_an_empty_key(environ, host, needle):
    with pytest.raises(KeyConfigError, match=needle):
        check_keys(environ, host, "K", "A")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", None])
def test_loopback_may_serve_with_no_key(host):
    check_keys({}, host, "K", "A")
    check_keys({"K": "k"}, "0.0.0.0", "K", "A")  # anywhere with the key


@pytest.mark.parametrize(
    "host, env, needle",
    [
        ("0.0.0.0", {}, "refusing to serve on 0.0.0.0 without a key: set DEEPFAKE_API_KEY"),
        ("127.0.0.1", {"DEEPFAKE_API_KEY": ""}, "DEEPFAKE_API_KEY is set but empty"),
        ("127.0.0.1", {"DEEPFAKE_API_KEY": "k", "DEEPFAKE_ADMIN_KEY": ""}, "DEEPFAKE_ADMIN_KEY is set but empty"),
    ],
)
def test_bentoml_serve_refuses_to_start_open_off_loopback_or_with_an_empty_key(tmp_path, host, env, needle):
    """The real ``bentoml serve``: it exits before any worker starts, with the reason."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    clean = {k: v for k, v in os.environ.items() if k not in ("DEEPFAKE_API_KEY", "DEEPFAKE_ADMIN_KEY")}
    bentoml = str(Path(sys.executable).parent / "bentoml")
    proc = subprocess.run(
        [bentoml, "serve", "serving.service:DeepfakeDetector", "--host", host, "--port", "1"],
        cwd=root,
        env={**clean, **env, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode != 0 and needle in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]


async def _form(request: Request) -> JSONResponse:
    form = await request.form()
    return JSONResponse({"files": len(form.getlist("files"))})


def test_more_form_parts_than_a_request_may_hold_is_413_before_the_form_parser():
    """1,001 files used to reach Starlette's form parser (max 1,000 files) and come back as a 500."""
    app = Starlette(routes=[Route("/score_images", _form, methods=["POST"])])
    client = TestClient(GuardMiddleware(app, 10_000_000, "GUARD_TEST_KEY", "GUARD_TEST_ADMIN", max_parts=70))
    key = {"X-API-Key": ""}

    def files(n: int) -> list:
        return [("files", (f"{i}.jpg", b"x" * 10)) for i in range(n)]

    assert client.post("/score_images", files=files(64), data={"crop": "true"}, headers=key).json() == {"files": 64}
    for n in (71, 1001):
        r = client.post("/score_images", files=files(n), headers=key)
        assert r.status_code == 413 and r.json()["error"] == "too_many_parts", r.text
        assert "70" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/review_items", "/review_label"])
def test_the_review_queue_needs_the_admin_key(client, monkeypatch, path):
    """People's faces and their labels: the scoring key is not enough."""
    monkeypatch.setenv("GUARD_TEST_KEY", "score-key")
    json_body = {"content": b"{}", "headers": {"Content-Type": "application/json", "X-API-Key": "score-key"}}
    assert client.post(path, **json_body).status_code == 403  # no admin key on the server: closed
    monkeypatch.setenv("GUARD_TEST_ADMIN", "admin-key")
    assert client.post(path, **json_body).status_code == 401
    ok = client.post(path, content=b"{}", headers={"Content-Type": "application/json", "X-API-Key": "admin-key"})
    assert ok.status_code == 200
