"""Request log: schema, day files, background writer, time-window reads, malformed lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from deepfake_detect.requestlog import FIELDS, RequestLog, log_file, make_record, read_request_log


def test_records_round_trip_by_utc_day(tmp_path):
    t0 = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)
    recs = [make_record(time=(t0 + timedelta(seconds=20 * i)).isoformat(), request_id="r", endpoint="score_video",
                        file="a.mp4", frame=i, face=0, model_tag="m1", probability=0.1 * i, label="REAL",
                        embedding=[0.1, 0.2]) for i in range(4)]
    writer = RequestLog(tmp_path)
    writer.write(recs)
    writer.close()
    assert log_file(tmp_path, t0.date()).exists() and log_file(tmp_path, (t0 + timedelta(days=1)).date()).exists()
    df = read_request_log(tmp_path)
    assert list(df.columns) == FIELDS and len(df) == 4 and df["frame"].tolist() == [0, 1, 2, 3]
    assert str(df["time"].dt.tz) == "UTC"
    window = read_request_log(tmp_path, start=t0 + timedelta(seconds=30), end="2026-03-02T00:00:20+00:00")
    assert window["frame"].tolist() == [2]
    naive = read_request_log(tmp_path, start=datetime(2026, 3, 2))  # naive = UTC
    assert naive["frame"].tolist() == [2, 3]


def test_malformed_lines_are_skipped_and_unknown_fields_refused(tmp_path, caplog):
    path = log_file(tmp_path, datetime(2026, 1, 2).date())
    good = make_record(time="2026-01-02T10:00:00+00:00", probability=0.7, embedding=[1.0])
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"no_time": 1}) + "\n")
    df = read_request_log(tmp_path)
    assert len(df) == 1 and df["probability"].iloc[0] == 0.7
    assert "2 malformed" in caplog.text
    with pytest.raises(ValueError, match="unknown field"):
        make_record(prob=0.5)


def test_empty_folder_reads_as_empty_frame(tmp_path):
    df = read_request_log(tmp_path)
    assert df.empty and list(df.columns) == FIELDS
