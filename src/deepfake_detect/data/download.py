"""Download DFDC data with Kaggle's official API, all-or-nothing.

Datasets:
  deepfake-faces  Kaggle dataset ``dagnelies/deepfake-faces`` (95,634 224-px face crops + metadata.csv)
  dfdc-sample     the competition's ``train_sample_videos`` (400 clips + metadata.json)
  dfdc-part-N     one of the 50 training parts, ``dfdc_train_part_N`` (needs the competition rules
                  accepted on kaggle.com with the same account)

Everything lands in a temporary folder beside the target and is moved into place only when the
download and unzip finished; any failure (no credentials, no network, a refused competition)
removes the temporary folder and raises :class:`DownloadError` with what to do.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from deepfake_detect.errors import DeepfakeError

log = logging.getLogger(__name__)

COMPETITION = "deepfake-detection-challenge"
FACES_DATASET = "dagnelies/deepfake-faces"
CREDENTIALS_HELP = (
    "Kaggle credentials not found: create an API token on kaggle.com (Settings → API) and save it as "
    "~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)


class DownloadError(DeepfakeError, RuntimeError):
    """The download could not complete; nothing was left behind."""


def _has_credentials() -> bool:
    home = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return bool(
        (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
        or os.environ.get("KAGGLE_API_TOKEN")
        or (home / "kaggle.json").exists()
        or (home / "access_token").exists()
    )


def _api():
    if not _has_credentials():
        raise DownloadError(CREDENTIALS_HELP)
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        api.authenticate()
    except SystemExit as exc:  # the kaggle client exits instead of raising on bad credentials
        raise DownloadError(CREDENTIALS_HELP) from exc
    return api


def _fetch(api, dataset: str, tmp: Path) -> None:
    if dataset == "deepfake-faces":
        api.dataset_download_files(FACES_DATASET, path=str(tmp), unzip=True, quiet=False)
        return
    if dataset == "dfdc-sample":
        api.competition_download_files(COMPETITION, path=str(tmp), quiet=False)
    else:
        match = re.fullmatch(r"dfdc-part-(\d+)", dataset)
        if not match or not 0 <= int(match.group(1)) <= 49:
            raise DownloadError(f"unknown dataset {dataset!r}: use deepfake-faces, dfdc-sample or dfdc-part-N (0..49)")
        api.competition_download_file(COMPETITION, f"dfdc_train_part_{int(match.group(1))}.zip", path=str(tmp))
    for archive in tmp.glob("*.zip"):
        shutil.unpack_archive(archive, tmp)
        archive.unlink()


def download(dataset: str, out_dir: str | Path) -> Path:
    """Fetch ``dataset`` into ``out_dir`` (which must not already hold data)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DownloadError(f"{out_dir}: already holds data; choose an empty folder (--out) or move it away")
    if not re.fullmatch(r"deepfake-faces|dfdc-sample|dfdc-part-\d+", dataset):
        raise DownloadError(f"unknown dataset {dataset!r}: use deepfake-faces, dfdc-sample or dfdc-part-N (0..49)")
    tmp = out_dir.with_name(out_dir.name + ".download")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        api = _api()
        log.info("downloading %s from Kaggle into %s", dataset, tmp)
        _fetch(api, dataset, tmp)
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (OSError, ValueError, RuntimeError, shutil.ReadError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = (
            "cannot reach Kaggle (no network?)"
            if "resolve" in str(exc).lower() or "connection" in type(exc).__name__.lower()
            else f"{type(exc).__name__}: {exc}"
        )
        raise DownloadError(f"download of {dataset} failed, nothing kept: {reason}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    content = [p for p in tmp.iterdir()]
    root = content[0] if len(content) == 1 and content[0].is_dir() else tmp  # unwrap a single top folder
    if out_dir.exists():
        out_dir.rmdir()
    root.rename(out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s ready in %s (track it with `dvc add %s`)", dataset, out_dir, out_dir)
    return out_dir
