"""A promotion reaches every front worker of a scaled-out `bentoml serve` (``serve.workers: 2``): the
worker that gets ``/reload`` swaps and writes the release marker, the other switches before its next
request, and no request fails meanwhile. Both placements of the model: one model service for all
workers, and a model in each worker (which loads the new one itself while it serves the old)."""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from serving_kit import ROOT, build_model_folder, save_to_store, write_test_params

from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

pytestmark = pytest.mark.slow
KEY = "workers-key-123"
ADMIN_KEY = "workers-admin-456"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture(params=[False, True], ids=["model-service", "model-in-each-worker"])
def server(request, tmp_path, bentoml_home, model_dir):
    name = f"workers-{'front' if request.param else 'service'}"  # its own store name: others keep theirs
    save_to_store(model_dir, name=name)  # model A: tiny-xception-test, 71 px
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "DEEPFAKE_PARAMS": str(
            write_test_params(tmp_path, model_tag=f"{name}:latest", workers=2, model_in_front=request.param)
        ),
        "DEEPFAKE_API_KEY": KEY,
        "DEEPFAKE_ADMIN_KEY": ADMIN_KEY,
        "BENTOML_DO_NOT_TRACK": "true",
    }
    try:
        proc, url = start_bentoml_serve(env, tmp_path / "serve.log", ROOT, ready_timeout=300)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield url, name, tmp_path, request.param
    finally:
        stop_process_tree(proc)


def _model(url: str) -> dict:
    """/model on a new connection (so either worker may answer)."""
    r = httpx.post(f"{url}/model", json={}, headers=HEADERS, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_reload_reaches_both_workers_and_no_request_fails(server, tmp_path):
    import cv2
    from skimage import data as skdata

    url, name, tmp, in_front = server
    _, face = cv2.imencode(".jpg", cv2.cvtColor(skdata.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR))
    answers: list[tuple[float, int, str | None]] = []  # (sent at, HTTP status, model tag)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            started = time.monotonic()
            r = httpx.post(  # a new connection each time: both workers get traffic
                f"{url}/score_image",
                files={"file": ("face.jpg", face.tobytes())},
                data={"crop": "true"},
                headers=HEADERS,
                timeout=120,
            )
            tag = r.json().get("model_tag") if r.status_code == 200 else r.text[:200]
            answers.append((started, r.status_code, tag))

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        while len(answers) < 6:  # traffic is flowing on model A
            time.sleep(0.2)
        build_model_folder(tmp / "b", input_size=96, threshold=0.4, tag="tiny-xception-b")  # another input size
        save_to_store(tmp / "b", name=name)  # promote's commit point: the store's new latest
        r = httpx.post(f"{url}/reload", json={}, headers={"X-API-Key": ADMIN_KEY}, timeout=300)
        reloaded = time.monotonic()
        assert r.status_code == 200 and r.json()["tag"] == "tiny-xception-b", r.text
        deadline = time.monotonic() + 120  # a worker with its own model loads B first, serving A meanwhile
        seen: dict[int, str] = {}
        while time.monotonic() < deadline and (len(seen) < 2 or set(seen.values()) != {"tiny-xception-b"}):
            info = _model(url)
            seen[info["worker"]] = info["tag"]
        while sum(1 for at, *_ in answers if at > reloaded) < 6:  # traffic after the swap
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    assert {tag for _, _, tag in answers} == {"tiny-xception-test", "tiny-xception-b"}
    assert set(seen.values()) == {"tiny-xception-b"} and len(seen) == 2, seen  # both workers
    after = [_model(url) for _ in range(6)]
    assert {a["tag"] for a in after} == {"tiny-xception-b"} and all(a["input_size"] == 96 for a in after), after
    if not in_front:  # the model service holds B already: the other worker switches before its next request
        assert {tag for at, _, tag in answers if at > reloaded} == {"tiny-xception-b"}
