"""Fixtures shared by every test area: the repo root, the real data in ../shared (skip when
absent), a tiny embedded sample generated once per session, and a workspace builder that
writes a params.yaml with overrides into a temp folder."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
# real DFDC data beside the checkout (../shared/data), or wherever DEEPFAKE_SHARED_DATA points
SHARED_DATA = Path(os.environ.get("DEEPFAKE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# subprocesses (dvc, deepfake, bentoml) come from the environment running the tests, activated or not
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# A sample small enough for tests: 3 identities, 1 fake each, 10 frames at 240x180.
TINY_SAMPLE = {"n_actors": 3, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    folder = SHARED_DATA / "videos"
    if not (folder / "metadata.json").exists():
        pytest.skip(f"{folder}: real DFDC/FF++ clips not available on this machine")
    return folder


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """The whole shared folder: several sources side by side (deepfake-faces, videos, ffpp-c23)."""
    if not all((SHARED_DATA / d).is_dir() for d in ("deepfake-faces", "videos", "ffpp-c23")):
        pytest.skip(f"{SHARED_DATA}: the shared sources are not all available on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    folder = SHARED_DATA / "deepfake-faces"
    if not (folder / "metadata.csv").exists():
        pytest.skip(f"{folder}: Kaggle deepfake-faces slice not available on this machine")
    return folder


def load_repo_params(**overrides: dict) -> dict:
    """The repo's params.yaml as a dict, with per-section overrides merged in."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(params.get(section), dict):
            params[section] = {**params[section], **values}
        else:
            params[section] = values
    return params


def write_params(folder: Path, **overrides: dict) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(load_repo_params(**overrides), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory) -> Path:
    """A small embedded sample (DFDC layout), generated once per session; treat as read-only."""
    from deepfake_detect.config import SampleParams
    from deepfake_detect.data.sample import generate_sample

    out = tmp_path_factory.mktemp("sample") / "raw"
    generate_sample(out, SampleParams(**TINY_SAMPLE), seed=7)
    return out


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A temp working folder the stages run in (relative paths of params.yaml resolve here)."""

    def make(**overrides: dict):
        from deepfake_detect.config import load_params

        path = write_params(tmp_path, **overrides)
        monkeypatch.chdir(tmp_path)
        return load_params(path)

    return make


def point_bentoml_at(home: Path) -> None:
    """Make this process's BentoML use ``home`` (and subprocesses, through BENTOML_HOME).

    BentoML resolves its home and stores once, as singletons: after the first use, changing
    BENTOML_HOME alone does not move them, so the stores themselves are replaced."""
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    home.mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    BentoMLContainer.bentoml_home.set(str(home))
    BentoMLContainer.model_store_dir.set(str(home / "models"))
    BentoMLContainer.bento_store_dir.set(str(home / "bentos"))
    BentoMLContainer.model_store.set(ModelStore(str(home / "models")))
    BentoMLContainer.bento_store.set(BentoStore(str(home / "bentos")))


@pytest.fixture(scope="session")
def use_bentoml_home():
    """``use_bentoml_home(path)``: point BentoML (this process and subprocesses) at a store."""
    previous = os.environ.get("BENTOML_HOME")
    yield point_bentoml_at
    if previous is None:
        os.environ.pop("BENTOML_HOME", None)
    else:
        os.environ["BENTOML_HOME"] = previous


def copy_sample(sample: Path, dest: Path) -> Path:
    shutil.copytree(sample, dest)
    return dest


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")  # Debian's packages
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1500",
)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Headless Debian Chromium driven by Selenium, with a fresh profile; skips with the install command
    where it is absent (`make test` installs it when it runs as root)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("headless Chromium absent: apt-get install -y chromium chromium-driver (as root)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium absent: pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager's usage statistics
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def metrics_for(model: str, frame: dict | None = None, video: dict | None = None):
    """A real :class:`ModelMetrics` (evaluate on synthetic scores of 20 three-frame videos) with the
    given frame / video figures put in: release rules compare these."""
    import numpy as np
    import pandas as pd

    from deepfake_detect.config import load_params
    from deepfake_detect.contracts.model import ModelRecord
    from deepfake_detect.pipeline.evaluate import evaluate_probs

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    raw = 1 / (1 + np.exp(-rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)))

    def split(prefix: str) -> pd.DataFrame:
        return pd.DataFrame({"y": y, "video": [f"{prefix}{i // 3}" for i in range(len(y))], "person": 0, "frame": 0})

    record = ModelRecord(
        name=model, family="sklearn", artifact="model.joblib", input_size=48, params={}, created="",
        git_rev="", data_version="", train_seconds=0.0, n_train=0, n_val=0, threshold=0.5,
    )  # fmt: skip
    ep = load_params(
        Path(__file__).resolve().parents[1] / "params.yaml", {"evaluate": {"bootstrap_resamples": 0}}
    ).evaluate
    m = evaluate_probs(record, split("v"), raw, split("t"), raw, ep, seed=0)
    return m.model_copy(
        update={"frame": m.frame.model_copy(update=frame or {}), "video": m.video.model_copy(update=video or {})}
    )


@pytest.fixture
def make_metrics():
    """Factory: ``make_metrics(model, frame={...}, video={...})`` → a ModelMetrics (see :func:`metrics_for`)."""
    return metrics_for
