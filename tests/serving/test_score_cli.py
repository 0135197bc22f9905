"""`deepfake score` through the real CLI: folders, JSON lines, CSV, Grad-CAM PNGs, exit codes."""

from __future__ import annotations

import csv
import json
import shutil

from serving_kit import VIDEOS, make_bad_inputs, needs_shared, some_faces
from typer.testing import CliRunner

from deepfake_detect.cli.main import app


@needs_shared(VIDEOS)
def test_score_folder_json_csv_explain(tmp_path, model_dir):
    media = tmp_path / "in"
    media.mkdir()
    shutil.copy(VIDEOS / "ffpp_004.mp4", media / "ffpp_004.mp4")
    for face in some_faces(2):
        shutil.copy(face, media / face.name)
    (media / "readme.txt").write_text("ignored: not media")
    out_csv, cams = tmp_path / "scores.csv", tmp_path / "cams"
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(media),
            "--json",
            "--csv",
            str(out_csv),
            "--explain",
            str(cams),
            "--model-dir",
            str(model_dir),
            "--crop",
        ],
    )
    assert result.exit_code == 0, result.output[-2000:]
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 3
    for rec in lines:
        assert {"path", "label", "probability"} <= set(rec) and rec["label"] in ("FAKE", "REAL")
        assert 0 <= rec["probability"] <= 1
        assert rec["people"] and rec["probability"] == max(p["probability"] for p in rec["people"] if p["deciding"])
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["path"] for r in rows] == [x["path"] for x in lines]
    assert sorted(p.suffix for p in cams.iterdir()) and all(p.read_bytes()[:4] == b"\x89PNG" for p in cams.iterdir())


def test_score_reports_bad_files_and_exits_1(tmp_path, model_dir):
    bad = make_bad_inputs(tmp_path / "bad")
    result = CliRunner().invoke(
        app, ["score", str(bad["non_media"][0]), str(bad["no_face_image"][0]), "--json", "--model-dir", str(model_dir)]
    )
    assert result.exit_code == 1
    recs = {json.loads(x)["path"]: json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")}
    assert recs[str(bad["non_media"][0])]["error"] == "unsupported_media"
    assert recs[str(bad["no_face_image"][0])]["label"] == "NO_FACE"
    assert recs[str(bad["no_face_image"][0])]["probability"] is None
    missing = CliRunner().invoke(app, ["score", str(tmp_path / "nope"), "--model-dir", str(model_dir)])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_the_summary_table_prints_names_as_data(tmp_path, model_dir):
    bad = make_bad_inputs(tmp_path / "bad")
    evil = tmp_path / "x\x1b[2J\nforged [blink]REAL.jpg"
    shutil.copy(bad["no_face_image"][0], evil)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["score", str(evil), "--model-dir", str(model_dir)])
    assert result.exit_code == 0, result.output[-2000:]
    assert "\x1b" not in result.output
    assert "\\x1b[2J\\nforged [blink]REAL.jpg" in result.output  # escaped, markup shown as text


def test_csv_at_a_hard_link_of_an_input_is_refused_even_with_force(tmp_path, model_dir):
    bad = make_bad_inputs(tmp_path / "bad")
    image = bad["no_face_image"][0]
    before = image.read_bytes()
    link = tmp_path / "scores.csv"
    link.hardlink_to(image)
    args = ["score", str(image), "--csv", str(link), "--force", "--model-dir", str(model_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output[-2000:]
    assert "scores.csv" in result.output and "input" in result.output
    assert image.read_bytes() == before  # the input is untouched
