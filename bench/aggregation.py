"""Which clip rule (``evaluate.video_aggregation``) calls fewer REAL people FAKE? Re-aggregate the
faces that ``deepfake score --json`` scored, under every rule, on clips whose labels are known.

The frame scores stay those of the served model; only the pooling changes: each person (face track)
is pooled with the rule (:func:`aggregate.people_scores`), the clip is its fakest deciding person
(:func:`aggregate.clip_probability`), exactly as serving does. Per dataset and split (from the
split manifest: ``train`` clips were trained on, ``val+test`` were not, ``unseen`` are in no split),
it prints the video AUC, and at the release's served threshold (the ``threshold`` of the answers)
the share of REAL clips called FAKE and of FAKE clips caught.

The threshold was chosen on val for the rule the release was evaluated with, which favours that
rule; AUC is threshold-free.

    deepfake score ../shared/data/ffpp-c23 ../shared/data/videos --json > reports/bench/score_clips.jsonl
    python bench/aggregation.py --scores reports/bench/score_clips.jsonl --raw-dir ../shared/data \\
        --manifest data/split/manifest.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfake_detect.config import Params, load_params  # noqa: E402
from deepfake_detect.data.sources import Clip, list_clips  # noqa: E402
from deepfake_detect.models.aggregate import clip_probability, people_scores  # noqa: E402
from deepfake_detect.scoring.result import ScoreResult  # noqa: E402

RULES = ("mean", "confident")
SPLIT_GROUPS = {"train": "train", "val": "val+test", "test": "val+test"}  # manifest split -> what the table says


def read_answers(files: list[Path]) -> list[tuple[Path, ScoreResult]]:
    """``deepfake score --json`` lines (``{"path", **ScoreResult}``); refused files are skipped."""
    answers = []
    for file in files:
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
                path = Path(fields.pop("path"))
                if "error" not in fields:  # a ScoreError: the media checks refused the file
                    answers.append((path, ScoreResult.model_validate(fields)))
            except (ValueError, KeyError) as exc:
                raise SystemExit(f"{file}:{n}: not a `deepfake score --json` line ({exc})") from exc
    return answers


def score_clips(params: Params, model: Path, clips: list[Clip]) -> list[tuple[Path, ScoreResult]]:
    """Each clip scored in-process as ``deepfake score --model`` scores it."""
    from tqdm import tqdm

    from deepfake_detect.scoring.scorer import load_predictor, local_scorer

    scorer = local_scorer(params, load_predictor(model))
    return [(c.path, scorer.score_video(c.path)) for c in tqdm(clips, desc="scoring clips", unit="clip")]


def clip_rows(answers: list[tuple[Path, ScoreResult]], clips: list[Clip], splits: dict[str, str], ev) -> pd.DataFrame:
    """One row per labelled scored clip with faces: dataset, split, label and its score under every rule."""
    by_path = {c.path.resolve(): c for c in clips}
    rows = []
    for path, answer in answers:
        known = by_path.get(path.resolve())
        faces = [(frame.frame, face) for frame in answer.frames for face in frame.faces]
        if known is None or answer.kind != "video" or not faces:
            continue
        probs = np.array([face.probability for _, face in faces])
        persons = np.array([face.person for _, face in faces])
        frames = np.array([frame for frame, _ in faces])
        row = {
            "clip": known.video,
            "dataset": known.dataset,
            "split": SPLIT_GROUPS.get(splits.get(known.video, ""), "unseen"),
            "y": int(known.label == "FAKE"),
            "threshold": answer.threshold,
        }
        for rule in RULES:
            people = people_scores(probs, persons, frames, ev.clip, rule, ev.person_min_share)
            row[rule] = clip_probability(people)
        rows.append(row)
    if not rows:
        raise SystemExit("no scored clip is a labelled clip with faces")
    return pd.DataFrame(rows)


def rule_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x split (and all clips): every rule's video AUC and its rates at the served threshold."""
    from sklearn.metrics import roc_auc_score

    groups = [((d, s), g) for (d, s), g in rows.groupby(["dataset", "split"])] + [(("all", "all"), rows)]
    out = []
    for (dataset, split), g in groups:
        y, thr = g["y"].to_numpy(), g["threshold"].to_numpy()
        for rule in RULES:
            p = g[rule].to_numpy()
            out.append(
                {
                    "dataset": dataset,
                    "split": split,
                    "rule": rule,
                    "clips": len(g),
                    "real": int((y == 0).sum()),
                    "auc": roc_auc_score(y, p) if len(set(y)) == 2 else float("nan"),
                    "real_called_fake": float((p[y == 0] >= thr[y == 0]).mean()) if (y == 0).any() else float("nan"),
                    "fake_caught": float((p[y == 1] >= thr[y == 1]).mean()) if (y == 1).any() else float("nan"),
                }
            )
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-dir", type=Path, required=True, help="sources root whose metadata.json label the clips")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--scores", type=Path, nargs="+", help="`deepfake score --json` output files")
    given.add_argument("--model", type=Path, help="a model folder (promote's): score the labelled clips with it")
    parser.add_argument("--max-clips", type=int, default=0, help="with --model: the first N labelled clips (0 = all)")
    parser.add_argument("--manifest", type=Path, help="split manifest: which clips were trained on (train)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--out", type=Path, help="also write the table here (JSON)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    clips = list_clips(args.raw_dir)[0]
    if args.model:
        answers = score_clips(params, args.model, clips[: args.max_clips or None])
    else:
        answers = read_answers(args.scores)
    splits = {}
    if args.manifest:
        splits = pd.read_csv(args.manifest, usecols=["video", "split"]).groupby("video")["split"].first().to_dict()
    table = rule_table(clip_rows(answers, clips, splits, params.evaluate))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"served rule (evaluate.video_aggregation): {params.evaluate.video_aggregation}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rows = json.loads(table.to_json(orient="records"))
        args.out.write_text(json.dumps({"served_rule": params.evaluate.video_aggregation, "rows": rows}, indent=1))
    return table


if __name__ == "__main__":
    main()
