"""validate: a Great Expectations suite over the manifest and per-crop image statistics.

Two suites, both run through a GX checkpoint that writes HTML Data Docs under the report folder:

* ``manifest`` (after extract): schema, unique ids, non-null fields, label set, both classes
  present, readable 3-channel crops (hard); crop size, brightness, sharpness and detector
  confidence within params (soft: reported, clean acts on them).
* ``split`` (after balance): split values, no group on two sides of the split, a test split
  holding both classes (hard); both classes in val (soft).

Expectations carry GX's ``severity``: ``critical`` ones stop the pipeline (non-zero exit naming the
expectation and example rows), ``warning`` ones are reported only.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from deepfake_detect.config import Params, QualityParams, ValidateParams
from deepfake_detect.data.manifest import LABELS, MANIFEST_COLUMNS, SPLITS, read_manifest, write_csv
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.images import STAT_COLUMNS, ImageReadError, file_stats

log = logging.getLogger(__name__)

HARD, SOFT = "critical", "warning"


class ValidationFailed(DeepfakeError, RuntimeError):
    """A critical expectation failed; the message names it and shows example rows."""

    exit_code = 1  # the data failed the gate, as a test fails: not a usage error


@dataclass
class SuiteOutcome:
    suite: str
    success: bool
    hard_failures: list[dict] = field(default_factory=list)
    soft_failures: list[dict] = field(default_factory=list)
    evaluated: int = 0

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "success": self.success,
            "evaluated": self.evaluated,
            "hard_failures": self.hard_failures,
            "soft_failures": self.soft_failures,
        }


def _stats_row(path: str) -> dict:
    try:
        return {"readable": True, **file_stats(path), "error": ""}
    except ImageReadError as exc:
        return {"readable": False, **dict.fromkeys(STAT_COLUMNS, float("nan")), "error": str(exc)}


def compute_crop_stats(manifest: pd.DataFrame, threads: int = 4) -> pd.DataFrame:
    """Per-crop readability and image statistics, keyed by crop_id (OpenCV releases the GIL)."""
    with ThreadPoolExecutor(threads) as pool:
        rows = list(
            tqdm(
                pool.map(_stats_row, manifest["path"].astype(str)), total=len(manifest), desc="crop stats", unit="crop"
            )
        )
    stats = pd.DataFrame(rows, columns=["readable", *STAT_COLUMNS, "error"])
    stats.insert(0, "crop_id", manifest["crop_id"].to_numpy())
    return stats


def manifest_expectations(vp: ValidateParams, qp: QualityParams) -> list:
    """The manifest suite's expectations (critical = hard, warning = soft)."""
    import great_expectations.expectations as gxe

    soft = {"severity": SOFT, "mostly": vp.soft_mostly}
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=HARD),
        *[gxe.ExpectColumnToExist(column=c, severity=HARD) for c in MANIFEST_COLUMNS],
        gxe.ExpectColumnValuesToBeUnique(column="crop_id", severity=HARD),
        *[
            gxe.ExpectColumnValuesToNotBeNull(column=c, severity=HARD)
            for c in ("crop_id", "path", "video", "label", "group", "dataset", "source")
        ],
        gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(LABELS), severity=HARD),
        gxe.ExpectColumnDistinctValuesToContainSet(column="label", value_set=list(LABELS), severity=HARD),
        gxe.ExpectColumnValuesToBeInSet(column="readable", value_set=[True], severity=HARD),
        gxe.ExpectColumnValuesToBeInSet(column="channels", value_set=[3.0], severity=HARD),
        gxe.ExpectColumnValuesToBeBetween(column="width", min_value=qp.min_side, **soft),
        gxe.ExpectColumnValuesToBeBetween(column="height", min_value=qp.min_side, **soft),
        gxe.ExpectColumnValuesToBeBetween(
            column="brightness", min_value=qp.min_brightness, max_value=qp.max_brightness, **soft
        ),
        gxe.ExpectColumnValuesToBeBetween(column="sharpness", min_value=qp.min_sharpness, **soft),
        gxe.ExpectColumnValuesToBeBetween(column="confidence", min_value=vp.min_confidence, max_value=1.0, **soft),
    ]


def split_expectations(vp: ValidateParams) -> list:
    """The split suite's expectations: the leak check is the one that matters most."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS), severity=HARD),
        gxe.ExpectColumnValuesToNotBeNull(column="split", severity=HARD),
        # computed per row: how many splits this row's group appears in; a leak makes it > 1
        gxe.ExpectColumnValuesToBeBetween(column="group_splits", min_value=1, max_value=1, severity=HARD),
        gxe.ExpectColumnValuesToBeBetween(column="test_classes", min_value=2, max_value=2, severity=HARD),
        gxe.ExpectColumnValuesToBeBetween(column="val_classes", min_value=2, max_value=2, severity=SOFT),
        gxe.ExpectColumnDistinctValuesToContainSet(column="split", value_set=["train", "test"], severity=HARD),
    ]


def _run_checkpoint(df: pd.DataFrame, name: str, expectations: list, report_dir: Path) -> dict:
    """Run one suite on a dataframe through a GX checkpoint that updates the HTML Data Docs."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    context = gx.get_context(mode="ephemeral")
    site = f"{name}_docs"
    context.add_data_docs_site(
        site,
        {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str((report_dir / "data_docs").resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    asset = context.data_sources.add_pandas("crops").add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite.name}_checkpoint",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[site])],
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["crop_id"],
                "partial_unexpected_count": 5,
            },
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": df})
    return next(iter(result.run_results.values())).to_json_dict()


def _summarise(suite_name: str, result: dict) -> SuiteOutcome:
    out = SuiteOutcome(suite_name, True, evaluated=len(result.get("results", [])))
    for r in result.get("results", []):
        if r.get("success"):
            continue
        cfg = r["expectation_config"]
        res = r.get("result", {})
        examples = (res.get("partial_unexpected_index_list") or res.get("unexpected_index_list") or [])[:5]
        failure = {
            "expectation": cfg["type"],
            "column": cfg.get("kwargs", {}).get("column"),
            "kwargs": {k: v for k, v in cfg.get("kwargs", {}).items() if k not in ("batch_id", "column")},
            "unexpected_percent": res.get("unexpected_percent"),
            "unexpected_count": res.get("unexpected_count"),
            "observed_value": res.get("observed_value"),
            "examples": examples,
            "partial_unexpected": (res.get("partial_unexpected_list") or [])[:5],
        }
        if r.get("exception_info", {}).get("raised_exception"):
            failure["exception"] = r["exception_info"].get("exception_message")
        if cfg.get("severity", HARD) == HARD:
            out.hard_failures.append(failure)
            out.success = False
        else:
            out.soft_failures.append(failure)
    return out


def _describe(f: dict) -> str:
    where = f" on {f['column']!r}" if f.get("column") else ""
    detail = (
        f"{f['unexpected_count']} rows ({f['unexpected_percent']:.1f}%)"
        if f.get("unexpected_count")
        else f"observed {f.get('observed_value')!r}"
    )
    ex = (
        f"; e.g. {f['examples']}"
        if f.get("examples")
        else (f"; e.g. {f['partial_unexpected']}" if f.get("partial_unexpected") else "")
    )
    return f"{f['expectation']}{where} {f['kwargs']}: {detail}{ex}"


def validate_manifest(
    manifest: pd.DataFrame, stats: pd.DataFrame, vp: ValidateParams, qp: QualityParams
) -> SuiteOutcome:
    """Run the manifest suite on the manifest joined with its crop statistics."""
    df = manifest.merge(stats, on="crop_id", how="left")
    result = _run_checkpoint(df, "manifest", manifest_expectations(vp, qp), vp.manifest_report)
    return _summarise("manifest", result)


def split_frame(split_manifest: pd.DataFrame) -> pd.DataFrame:
    """The split manifest plus per-row leak indicators the split suite checks."""
    df = split_manifest.copy()
    df["group_splits"] = df.groupby("group")["split"].transform("nunique")
    classes = df.groupby("split")["label"].nunique()
    df["test_classes"] = int(classes.get("test", 0))
    df["val_classes"] = int(classes.get("val", 0)) if "val" in classes else 2
    return df


def validate_split(split_manifest: pd.DataFrame, vp: ValidateParams) -> SuiteOutcome:
    result = _run_checkpoint(split_frame(split_manifest), "split", split_expectations(vp), vp.split_report)
    return _summarise("split", result)


def _report(outcome: SuiteOutcome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(outcome.to_dict(), indent=2, default=str) + "\n")
    for f in outcome.soft_failures:
        log.warning("soft expectation failed (reported, not fatal): %s", _describe(f))
    if outcome.hard_failures:
        raise ValidationFailed(
            f"{outcome.suite} suite: {len(outcome.hard_failures)} critical expectation(s) "
            "failed (details in " + str(path) + "):\n  " + "\n  ".join(_describe(f) for f in outcome.hard_failures)
        )
    log.info(
        "%s suite passed: %d expectations, %d soft warnings; Data Docs in %s",
        outcome.suite,
        outcome.evaluated,
        len(outcome.soft_failures),
        path.parent / "data_docs",
    )


def run_validate(params: Params, split: bool = False) -> SuiteOutcome:
    """The stage: manifest suite (default) or split suite (``split=True``, after balance)."""
    vp = params.validate_
    if split:
        df = read_manifest(params.balance.manifest, required=["crop_id", "label", "group", "split"])
        outcome = validate_split(df, vp)
        _report(outcome, vp.split_report / "result.json")
        return outcome
    manifest = read_manifest(params.extract.manifest)
    stats = compute_crop_stats(manifest)
    write_csv(stats, vp.stats)
    outcome = validate_manifest(manifest, stats, vp, params.quality)
    _report(outcome, vp.manifest_report / "result.json")
    return outcome
