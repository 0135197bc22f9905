"""A promotion reaches a running `bentoml serve` without a restart: the DAG's notify step POSTs
/reload, the model service loads and warms the store's new ``serve.model_tag`` and swaps it in, and
no request fails while it does."""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from serving_kit import ROOT, build_model_folder, save_to_store, write_test_params

from deepfake_detect.pipeline.dagops import notify_serving
from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

pytestmark = pytest.mark.slow
KEY = "reload-key-123"
ADMIN_KEY = "reload-admin-456"
HEADERS = {"X-API-Key": KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}
NAME = "reload-test"  # its own store name: the other serving tests keep deepfake-detector:latest


@pytest.fixture(scope="module")
def server(tmp_path_factory, bentoml_home, model_dir):
    tmp = tmp_path_factory.mktemp("reload")
    save_to_store(model_dir, name=NAME)  # model A: tiny-xception-test
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "DEEPFAKE_PARAMS": str(write_test_params(tmp, model_tag=f"{NAME}:latest")),
        "DEEPFAKE_API_KEY": KEY,
        "DEEPFAKE_ADMIN_KEY": ADMIN_KEY,
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


def _face(folder):
    import cv2
    from skimage import data as skdata

    path = folder / "face.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(skdata.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR))
    return path


def test_reload_needs_the_admin_key(server):
    url, _ = server
    assert httpx.post(f"{url}/reload", json={}, timeout=60).status_code == 401
    assert httpx.post(f"{url}/reload", json={}, headers=HEADERS, timeout=60).status_code == 401  # scoring key: no
    text = httpx.post(f"{url}/reload", content=b"{}", headers={"Content-Type": "text/plain"}, timeout=60)
    assert text.status_code == 401  # the cross-site text/plain POST of the review


def test_a_promotion_is_served_without_restart_and_no_request_fails(server, tmp_path):
    url, tmp = server
    face = _face(tmp_path).read_bytes()
    answers: list[tuple[float, int, str | None]] = []  # (sent at, HTTP status, model tag)
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                started = time.monotonic()
                r = client.post(
                    f"{url}/score_image",
                    files={"file": ("face.jpg", face)},
                    data={"crop": "true"},
                    headers=HEADERS,
                )
                tag = r.json().get("model_tag") if r.status_code == 200 else r.text[:200]
                answers.append((started, r.status_code, tag))

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        while len(answers) < 6:  # traffic is flowing on model A
            time.sleep(0.2)
        build_model_folder(tmp / "b", input_size=96, threshold=0.4, tag="tiny-xception-b")  # another input size too
        save_to_store(tmp / "b", name=NAME)  # promote's commit point: the store's new latest
        outcome = {"promotion": {"promoted": True, "tag": "tiny-xception-b"}}
        said = notify_serving(f"{url}/reload", ADMIN_KEY, outcome)
        reloaded = time.monotonic()
        assert said.startswith("reloaded"), said
        while sum(1 for at, *_ in answers if at > reloaded) < 6:  # traffic after the swap
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    tags = [tag for _, _, tag in answers]
    assert tags[0] == "tiny-xception-test" and set(tags) == {"tiny-xception-test", "tiny-xception-b"}
    after = [tag for at, _, tag in answers if at > reloaded]  # requests sent once /reload had answered
    assert set(after) == {"tiny-xception-b"}, after
    info = httpx.post(f"{url}/model", json={}, headers=HEADERS, timeout=60).json()
    assert info["tag"] == "tiny-xception-b" and info["threshold"] == pytest.approx(0.4) and info["input_size"] == 96
    again = httpx.post(f"{url}/reload", json={}, headers=ADMIN, timeout=300).json()
    assert again["changed"] is False and again["tag"] == "tiny-xception-b"


def test_notify_serving_logs_when_no_service_runs():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = notify_serving(f"http://127.0.0.1:{port}/reload", None, {"promotion": {"promoted": True}})
    assert said.startswith("serving not reached"), said


def test_notify_serving_skips_when_nothing_was_promoted():
    assert notify_serving("http://127.0.0.1:9/reload", None, {"promotion": {"promoted": False}}).startswith(
        "nothing promoted"
    )
