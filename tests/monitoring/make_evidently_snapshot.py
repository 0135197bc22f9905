"""Regenerate ``evidently_snapshot.json``: two small fixed tables and Evidently's real snapshot of them.

Run only on purpose (after checking that an Evidently upgrade keeps what the verdict reads):
``python tests/monitoring/make_evidently_snapshot.py``. The test compares the installed Evidently's
snapshot of the same tables against the saved one."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_detect.config import load_params

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "evidently_snapshot.json"
ROWS = 40
# the settings that shape the report (fingerprints of the metrics depend on them), saved with it
REPORT_SETTINGS = ("columns", "column_method", "column_threshold", "drift_share", "prediction_method")
REPORT_SETTINGS += ("prediction_threshold",)


def saved_settings(dp) -> dict:
    return {k: getattr(dp, k) for k in REPORT_SETTINGS}


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current: sharpness and P(FAKE) shifted in current, the rest alike."""
    rng = np.random.default_rng(11)
    columns = load_params(HERE.parents[1] / "params.yaml").drift.columns

    def side(shift: float) -> pd.DataFrame:
        t = {c: np.round(rng.normal(100, 10, ROWS), 3) for c in columns}
        t["sharpness"] = np.round(t["sharpness"] - 40 * shift, 3)
        t["probability"] = np.round(np.clip(rng.normal(0.3 + 0.4 * shift, 0.1, ROWS), 0, 1), 4)
        for i in range(3):
            t[f"emb_{i}"] = np.round(rng.normal(0, 1, ROWS), 4)
        return pd.DataFrame(t)

    return side(0.0), side(1.0)


def snapshot_of(reference: pd.DataFrame, current: pd.DataFrame, dp) -> dict:
    from evidently import DataDefinition, Dataset

    from deepfake_detect.monitoring.verdict import EMBEDDING, build_report

    report, _ = build_report(dp, embedding_picture=False)
    emb = [c for c in reference.columns if c.startswith("emb_")]
    definition = DataDefinition(numerical_columns=list(reference.columns), embeddings={EMBEDDING: emb})
    snap = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    return json.loads(json.dumps(snap.dict(), default=str))


if __name__ == "__main__":
    ref, cur = tables()
    dp = load_params(HERE.parents[1] / "params.yaml").drift
    out = {
        "evidently": importlib.metadata.version("evidently"),
        "drift": saved_settings(dp),
        "reference": ref.to_dict(orient="list"),
        "current": cur.to_dict(orient="list"),
        "snapshot": snapshot_of(ref, cur, dp),
    }
    SNAPSHOT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {SNAPSHOT} (Evidently {out['evidently']})")
