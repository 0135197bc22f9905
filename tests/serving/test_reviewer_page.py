"""The reviewer page at /ui in a real headless Chromium against a real `bentoml serve`: the API key
asked for and honoured, a shared clip scored (verdict, probability, threshold, one timeline point per
scored frame, face thumbnails, Grad-CAM on request), a text file answered with a readable 415, and the
review queue listed newest first and labelled from the page with the admin key (the feedback dataset
gains the rows).

Needs Debian's ``chromium`` and ``chromium-driver`` (the ``chromium`` fixture of tests/conftest.py
skips without them; ``make test`` installs them when it can). The screenshot goes to
``$REVIEWER_SCREENSHOT`` when set (docs/img/reviewer.png is made that way)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from serving_kit import ROOT, VIDEOS, needs_shared, write_test_params

from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

pytestmark = pytest.mark.slow
KEY = "page-key-456"
ADMIN = "page-admin-789"
CLIP = "ffpp_004.mp4"  # a REAL clip with one face in every sampled frame


@pytest.fixture(scope="module")
def served(tmp_path_factory, bentoml_home):
    tmp = tmp_path_factory.mktemp("ui")
    params = write_test_params(tmp)
    raw = yaml.safe_load(params.read_text())  # every request kept for review, labels into tmp/feedback
    raw["serve"]["review"].update(keep_crops=True, dir=str(tmp / "review"), margin=0.5, on_drift=False)
    raw["data"]["feedback_dir"] = str(tmp / "feedback")
    params.write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "DEEPFAKE_PARAMS": str(params),
        "DEEPFAKE_API_KEY": KEY,
        "DEEPFAKE_ADMIN_KEY": ADMIN,
        "BENTOML_DO_NOT_TRACK": "true",
    }
    try:
        proc, url = start_bentoml_serve(env, tmp / "serve.log", ROOT, ready_timeout=300)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield url, tmp / "feedback"
    finally:
        stop_process_tree(proc)


@pytest.fixture(scope="module")
def server(served):
    return served[0]


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


def _wait(driver, condition, timeout: float = 300):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)


def _text(driver, css: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text


def _count(driver, css: str) -> int:
    from selenium.webdriver.common.by import By

    return len(driver.find_elements(By.CSS_SELECTOR, css))


def _upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#file").send_keys(str(path))


def _done(driver) -> bool:
    return driver.execute_script("return document.body.dataset.state") in ("done", "error")


def test_page_is_served_offline_and_asks_for_the_key(server, browser):
    html = httpx.get(f"{server}/ui/", timeout=10)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "http://" not in html.text and "https://" not in html.text  # nothing from a CDN
    assert httpx.post(f"{server}/model", json={}, timeout=10).status_code == 401  # the API still needs the key
    browser.get(f"{server}/ui/")
    _wait(browser, lambda d: "API key" in _text(d, "#message"), 60)
    assert _text(browser, "#model") == "model: –"


@needs_shared(VIDEOS)
def test_a_shared_clip_gets_verdict_timeline_faces_and_gradcam(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/ui/")
    key = browser.find_element(By.CSS_SELECTOR, "#key")
    key.clear()
    key.send_keys(KEY)
    browser.find_element(By.CSS_SELECTOR, "#save-key").click()
    _wait(browser, lambda d: "tiny-xception-test" in _text(d, "#model"), 60)

    _upload(browser, VIDEOS / CLIP)
    _wait(browser, _done)
    assert browser.execute_script("return document.body.dataset.state") == "done", _text(browser, "#message")
    body = json.loads(browser.execute_script("return document.getElementById('raw').textContent"))
    sampled = httpx.post(f"{server}/model", json={}, headers={"X-API-Key": KEY}, timeout=60).json()["frames_per_video"]
    assert body["file"] == CLIP and body["frames_sampled"] == sampled
    assert body["frames_with_faces"] >= 0.75 * sampled  # one face in (nearly) every sampled frame
    assert _text(browser, "#verdict") == body["label"] and body["label"] in ("FAKE", "REAL")
    shown = _text(browser, "#probability")  # "P(FAKE) 0.4999 · threshold 0.500 · below: REAL"
    assert float(shown.split()[1]) == pytest.approx(body["probability"], abs=5e-4), shown
    assert f"threshold {body['threshold']:.3f}" in shown
    scored = [fr for fr in body["frames"] if fr["probability"] is not None]
    if body.get("people"):  # per-person verdicts: one line per person, a point per face of that person
        expected = sum(1 for fr in body["frames"] for f in fr["faces"] if f.get("person") is not None)
        assert _count(browser, "#timeline path.series") == len(body["people"])
    else:
        expected = len(scored)
        assert _count(browser, "#timeline path.series") == 1
    assert _count(browser, "#timeline circle.point") == expected
    assert _count(browser, "#timeline line.threshold") == 1
    faces = min(32, sum(len(fr["faces"]) for fr in body["frames"]))
    assert _count(browser, "#faces canvas.thumb") == faces
    _wait(browser, lambda d: _count(d, "#faces canvas.thumb.pending") == 0, 60)  # cut from the clip by the browser

    browser.find_element(By.CSS_SELECTOR, "#explain").click()
    _wait(browser, _done)
    assert browser.execute_script("return document.body.dataset.state") == "done", _text(browser, "#message")
    assert _count(browser, "#faces img.heatmap") >= 1
    assert _count(browser, "#timeline circle.point") == expected
    _wait(browser, lambda d: _count(d, "#faces canvas.thumb.pending") == 0, 60)

    shot = tmp_path / "reviewer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("REVIEWER_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["REVIEWER_SCREENSHOT"])


def test_a_text_file_gets_a_readable_error(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/ui/")
    browser.execute_script("sessionStorage.setItem('deepfake-api-key', arguments[0])", KEY)
    browser.get(f"{server}/ui/")
    _wait(browser, lambda d: "tiny-xception-test" in _text(d, "#model"), 60)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video, just text\n" * 20)
    _upload(browser, notes)
    _wait(browser, _done, 120)
    assert browser.execute_script("return document.body.dataset.state") == "error"
    message = _text(browser, "#message")
    assert "notes.txt: not an image file this service can read" in message, message
    assert "415" in message and "Unsupported" in message, message
    assert not browser.find_element(By.CSS_SELECTOR, "#result").is_displayed()


def test_people_get_one_timeline_line_each(server, browser):
    """The per-person response shape (``people`` plus a ``person`` id on each face) draws one line per
    person; the page renders a response given to it the same way as one it fetched."""
    browser.get(f"{server}/ui/")
    frames = [
        {"frame": f, "probability": 0.9, "faces": [face(0, 0.9), face(1, 0.2)] if f < 20 else [face(1, 0.3)]}
        for f in range(0, 30, 10)
    ]
    body = {
        "file": "two.mp4",
        "kind": "video",
        "label": "FAKE",
        "probability": 0.9,
        "threshold": 0.5,
        "faces_found": 5,
        "frames_sampled": 3,
        "frames_with_faces": 3,
        "model_tag": "t",
        "bento_tag": None,
        "media": {"width": 64, "height": 64, "fps": 10, "frames": 30},
        "frames": frames,
        "people": [
            {"person": 0, "probability": 0.9, "frames": 2, "box": [0, 0, 8, 8]},
            {"person": 1, "probability": 0.25, "frames": 3, "box": [8, 8, 8, 8]},
        ],
    }
    browser.execute_script("render(arguments[0], null, false)", body)
    assert _count(browser, "#timeline path.series") == 2
    assert _count(browser, "#timeline circle.point") == 5
    del body["people"]
    browser.execute_script("render(arguments[0], null, false)", body)
    assert _count(browser, "#timeline path.series") == 1 and _count(browser, "#timeline circle.point") == 3


def test_an_unfamiliar_answer_says_why(server, browser):
    """``unfamiliar_reasons`` in words: faces unlike the training faces (their share) and a clip
    compressed harder than the training clips (its bits per pixel); a familiar answer hides the box."""
    browser.get(f"{server}/ui/")
    body = {
        "file": "crushed.mp4",
        "kind": "video",
        "label": "REAL",
        "probability": 0.2,
        "threshold": 0.5,
        "faces_found": 1,
        "frames_sampled": 1,
        "frames_with_faces": 1,
        "model_tag": "t",
        "bento_tag": None,
        "media": {"width": 64, "height": 64, "fps": 10, "frames": 30, "bits_per_pixel": 0.00512},
        "frames": [{"frame": 0, "probability": 0.2, "faces": [face(0, 0.2)]}],
        "unfamiliar": True,
        "unfamiliar_share": 0.6,
        "unfamiliar_reasons": ["faces", "compression"],
    }
    browser.execute_script("render(arguments[0], null, false)", body)
    box = browser.find_element("id", "unfamiliar")
    assert box.is_displayed()
    assert box.text == (
        "Unlike the training data: verdict unreliable (60% of faces unlike the training faces; "
        "compressed harder than the training clips (0.0051 bits per pixel))"
    )
    browser.execute_script("render(arguments[0], null, false)", {**body, "unfamiliar": False, "unfamiliar_reasons": []})
    assert not browser.find_element("id", "unfamiliar").is_displayed()


def face(person: int, probability: float) -> dict:
    label = "FAKE" if probability >= 0.5 else "REAL"
    return {"face": person, "person": person, "box": [0, 0, 8, 8], "probability": probability, "label": label}


def _score(url: str, clip: Path) -> dict:
    with clip.open("rb") as fh:
        r = httpx.post(f"{url}/score_video", files={"file": (clip.name, fh)}, headers={"X-API-Key": KEY}, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_queue_api_over_http_takes_the_admin_key_only(served, tiny_sample):
    """What the page calls, over a real `bentoml serve` (runs where Chromium is absent too)."""
    url, feedback = served
    scored = _score(url, sorted(tiny_sample.glob("*.mp4"))[-1])
    admin = {"X-API-Key": ADMIN}
    assert httpx.post(f"{url}/review_items", json={}, headers={"X-API-Key": KEY}, timeout=30).status_code == 401
    listing = httpx.post(f"{url}/review_items", json={"labelled": False}, headers=admin, timeout=30).json()
    newest = listing["items"][0]["item"]
    assert (
        listing["enabled"] and newest["request_id"] == scored["request_id"] and newest["score"] == scored["probability"]
    )
    body = {"item_id": newest["id"], "label": "REAL", "note": "a real person, odd lighting"}
    labelled = httpx.post(f"{url}/review_label", json=body, headers=admin, timeout=60)
    assert labelled.status_code == 200 and labelled.json()["label"] == "REAL", labelled.text
    meta = pd.read_csv(feedback / "metadata.csv")
    assert set(meta[meta["original"] == newest["id"]]["note"]) == {"a real person, odd lighting"}
    bad = httpx.post(f"{url}/review_label", json={**body, "label": "maybe"}, headers=admin, timeout=30)
    assert bad.status_code == 400 and "not REAL or FAKE" in bad.json()["detail"]


def test_the_queue_is_labelled_from_the_page(served, browser, tiny_sample):
    """Two scored clips are kept; the page lists the newer first and a FAKE label with a note reaches the
    feedback dataset (the admin key opens the queue; the scoring key alone is refused)."""
    from selenium.webdriver.common.by import By

    url, feedback = served
    clips = sorted(tiny_sample.glob("*.mp4"))[:2]
    for clip in clips:
        with clip.open("rb") as fh:
            r = httpx.post(
                f"{url}/score_video", files={"file": (clip.name, fh)}, headers={"X-API-Key": KEY}, timeout=300
            )
        assert r.status_code == 200, r.text
    browser.get(f"{url}/ui/")
    browser.execute_script("sessionStorage.setItem('deepfake-api-key', arguments[0])", KEY)
    browser.get(f"{url}/ui/")
    browser.find_element(By.CSS_SELECTOR, "#queue-load").click()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#queue-box").get_attribute("data-state") == "error", 60)
    assert "admin key" in _text(browser, "#queue-status")  # the scoring key does not open people's faces

    browser.execute_script("sessionStorage.setItem('deepfake-api-key', arguments[0])", ADMIN)
    browser.get(f"{url}/ui/")
    browser.find_element(By.CSS_SELECTOR, "#queue-load").click()
    _wait(browser, lambda d: _count(d, "#queue li.queue-item") >= 2, 60)
    first = browser.find_element(By.CSS_SELECTOR, "#queue li.queue-item")
    assert clips[-1].name in first.text and "kept: margin" in first.text  # newest first
    assert first.find_element(By.CSS_SELECTOR, "img.queue-thumb").get_attribute("src").startswith("data:image/jpeg")
    item_id = first.get_attribute("data-id")
    first.find_element(By.CSS_SELECTOR, "input.note").send_keys("seam at the jaw")
    first.find_element(By.CSS_SELECTOR, "button.label-fake").click()
    _wait(browser, lambda d: first.get_attribute("data-label") in ("FAKE", "error"), 60)
    assert first.get_attribute("data-label") == "FAKE", first.text
    meta = pd.read_csv(feedback / "metadata.csv")
    rows = meta[meta["original"] == item_id]
    assert len(rows) >= 1 and set(rows["label"]) == {"FAKE"} and set(rows["note"]) == {"seam at the jaw"}
