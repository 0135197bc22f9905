"""Through a real `bentoml serve` on 127.0.0.1: every shared clip, real faces, every bad input,
concurrent requests, the API key, upload clean-up, and that the server keeps serving."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serving_kit import (
    FACES,
    ROOT,
    VIDEOS,
    long_static_clip,
    make_bad_inputs,
    make_face_variants,
    needs_shared,
    some_faces,
    write_test_params,
)

from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

pytestmark = pytest.mark.slow
KEY = "test-key-123"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def server(tmp_path_factory, bentoml_home):
    tmp = tmp_path_factory.mktemp("http")
    (tmp / "t").mkdir()
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "DEEPFAKE_PARAMS": str(write_test_params(tmp)),
        "DEEPFAKE_API_KEY": KEY,
        "TMPDIR": str(tmp / "t"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    try:
        proc, url = start_bentoml_serve(env, tmp / "serve.log", ROOT, ready_timeout=300)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield url, tmp
    finally:
        stop_process_tree(proc)


def _post(url: str, endpoint: str, path: Path, headers=HEADERS, **form) -> httpx.Response:
    with path.open("rb") as fh:
        return httpx.post(f"{url}/{endpoint}", files={"file": (path.name, fh)}, data=form, headers=headers, timeout=600)


def _alive(url: str) -> None:
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert httpx.post(f"{url}/model", json={}, headers=HEADERS, timeout=60).status_code == 200


def test_health_is_open_and_the_api_needs_the_key(server, tmp_path):
    url, _ = server
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{url}/livez", timeout=10).status_code == 200
    img = tmp_path / "x.png"
    img.write_bytes(b"\x89PNG")
    for headers in ({}, {"X-API-Key": "wrong"}):
        r = _post(url, "score_image", img, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    info = httpx.post(f"{url}/model", json={}, headers=HEADERS, timeout=60).json()
    assert info["tag"] == "tiny-xception-test" and info["frames_per_video"] >= 16


@needs_shared(VIDEOS)
def test_every_shared_clip(server):
    url, _ = server
    clips = sorted(VIDEOS.glob("*.mp4"))
    labels = json.loads((VIDEOS / "metadata.json").read_text())
    with ThreadPoolExecutor(3) as pool:  # concurrent video requests share the batched model
        responses = list(pool.map(lambda c: _post(url, "score_video", c), clips))
    for clip, r in zip(clips, responses, strict=True):
        assert r.status_code == 200, (clip.name, r.text[:300])
        body = r.json()
        assert body["file"] == clip.name and body["frames_sampled"] == 32
        assert body["faces_found"] > 0 and body["label"] in ("FAKE", "REAL"), clip.name
        deciding = [p for p in body["people"] if p["deciding"]]  # every shared clip scores with people
        assert deciding and body["probability"] == max(p["probability"] for p in deciding), clip.name
        assert 0 <= body["probability"] <= 1 and body["model_tag"] == "tiny-xception-test"
        assert all(len(f["box"]) == 4 for fr in body["frames"] for f in fr["faces"])
        assert clip.name in labels
    _alive(url)


@needs_shared(FACES)
def test_faces_concurrently_and_batch(server, tmp_path):
    url, _ = server
    faces = some_faces(12)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda f: _post(url, "score_image", f, crop="true"), faces))
    assert all(r.status_code == 200 for r in responses), [r.text[:200] for r in responses if r.status_code != 200]
    assert all(r.json()["faces_found"] == 1 and 0 <= r.json()["probability"] <= 1 for r in responses)
    handles = [f.open("rb") for f in faces[:4]]
    try:
        r = httpx.post(
            f"{url}/score_images",
            files=[("files", (f.name, h)) for f, h in zip(faces, handles, strict=False)],
            headers=HEADERS,
            timeout=600,
        )
    finally:
        for h in handles:
            h.close()
    assert r.status_code == 200 and [x["file"] for x in r.json()["results"]] == [f.name for f in faces[:4]]
    for kind, path in make_face_variants(faces[0], tmp_path).items():
        r = _post(url, "score_image", path)
        assert r.status_code == 200 and r.json()["faces_found"] >= 1, (kind, r.text[:300])
    r = _post(url, "explain", faces[0])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"


def test_bad_inputs_get_4xx_and_the_server_survives(server, tmp_path):
    url, _ = server
    for case, (path, endpoint, status, expected) in make_bad_inputs(tmp_path).items():
        r = _post(url, endpoint, path)
        assert r.status_code == status, (case, r.text[:300])
        body = r.json()
        if status == 200:
            assert body["label"] == expected and body["probability"] is None, case
        else:
            assert body["error"] == expected and body["detail"], (case, body)
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200, f"server down after {case}"
    r = httpx.post(f"{url}/score_video", headers=HEADERS, timeout=60)
    assert r.status_code == 400 and "error" in r.json()
    _alive(url)


def test_a_client_that_hangs_up_stops_its_request(server, tmp_path):
    """The server notices a closed connection and stops decoding (logged), long before the clip's
    work is done or serve.deadline_s; it goes on serving."""
    import socket

    url, tmp = server
    clip = long_static_clip(tmp_path / "hangs-up.mp4", 2400)  # ~2 s of decoding on a quiet machine
    boundary = "deepfake-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{clip.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + clip.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /score_video HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    log = tmp / "serve.log"
    stopped = "path=/score_video,type=multipart/form-data; boundary=deepfake-test-boundary"
    before = log.read_text().count(stopped)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(0.5)  # the upload is parsed and decoding has begun; then the client hangs up
    t0 = time.monotonic()
    while log.read_text().count(stopped) == before and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    access = [line for line in log.read_text().splitlines() if stopped in line]
    assert len(access) > before, log.read_text()[-2000:]
    assert "(status=499," in access[-1], access[-1]  # 499: stopped because the client went away
    _alive(url)


def test_uploads_are_removed_and_requests_logged(server, tmp_path):
    url, tmp = server
    import cv2
    from skimage import data as skdata

    photo = tmp_path / "astronaut.jpg"  # a real face that needs no shared data: this test stands alone
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    r = _post(url, "score_image", photo)
    assert r.status_code == 200 and r.json()["faces_found"] >= 1, r.text[:300]
    leftovers = [p for p in (tmp / "t").rglob("*") if p.is_file()]
    assert not leftovers, leftovers[:5]
    time.sleep(2)  # the request log is written by a background thread
    from deepfake_detect.scoring.requestlog import read_request_log

    df = read_request_log(tmp / "requests")
    assert len(df) > 0 and set(df["endpoint"]) <= {"score_video", "score_image", "score_images"}
    assert df["embedding"].map(len).eq(8).all() and df["probability"].between(0, 1).all()


def _astronaut_face(folder: Path, name: str = "face.jpg") -> Path:
    """The face of skimage's astronaut as a ready crop (no shared data needed)."""
    import cv2
    from skimage import data as skdata

    path = folder / name
    cv2.imwrite(str(path), cv2.cvtColor(skdata.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR))
    return path


def _batch_sizes(metrics: str, method: str = "score") -> tuple[float, float]:
    """(model calls, calls that held ONE request) from BentoML's adaptive_batch_size histogram."""
    total = single = 0.0
    for line in metrics.splitlines():
        if not line.startswith("bentoml_service_adaptive_batch_size") or f'method_name="{method}"' not in line:
            continue
        if line.startswith("bentoml_service_adaptive_batch_size_count"):
            total += float(line.rsplit(" ", 1)[1])
        elif 'le="1.0"' in line:
            single += float(line.rsplit(" ", 1)[1])
    return total, single


def test_concurrent_requests_meet_in_one_model_batch(server, tmp_path):
    """The front serves serve.threads requests at once, so the crops of several requests reach the
    model service in one adaptive batch (BentoML's adaptive_batch_size histogram counts requests per call)."""
    url, _ = server
    face = _astronaut_face(tmp_path)
    assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401  # behind the key
    before = _batch_sizes(httpx.get(f"{url}/metrics", headers=HEADERS, timeout=10).text)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: _post(url, "score_image", face, crop="true"), range(16)))
    assert all(r.status_code == 200 for r in responses), [r.text[:200] for r in responses]
    total, single = (
        a - b
        for a, b in zip(
            _batch_sizes(httpx.get(f"{url}/metrics", headers=HEADERS, timeout=10).text), before, strict=True
        )
    )
    assert total > 0 and single < total, f"{total:.0f} model calls, {single:.0f} of them with one request"


def test_long_upload_name_is_truncated(server, tmp_path):
    url, _ = server
    face = _astronaut_face(tmp_path)
    long_name = "x" * 250 + ".jpg"
    with face.open("rb") as fh:
        r = httpx.post(
            f"{url}/score_image", files={"file": (long_name, fh)}, data={"crop": "true"}, headers=HEADERS, timeout=600
        )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["file"].endswith(".jpg") and len(r.json()["file"].encode()) <= 200
