"""Request log: schema, day files, background writer, time-window reads, malformed lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from deepfake_detect.scoring.requestlog import (
    FIELDS,
    RequestLog,
    RequestLogRecord,
    log_file,
    make_record,
    read_request_log,
)


def test_records_round_trip_by_utc_day(tmp_path):
    t0 = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)
    recs = [
        make_record(
            time=(t0 + timedelta(seconds=20 * i)).isoformat(),
            request_id="r",
            endpoint="score_video",
            file="a.mp4",
            frame=i,
            face=0,
            model_tag="m1",
            probability=0.1 * i,
            label="REAL",
            embedding=[0.1, 0.2],
        )
        for i in range(4)
    ]
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
    path.write_text(good.model_dump_json() + "\n{not json\n" + json.dumps({"no_time": 1}) + "\n")
    df = read_request_log(tmp_path)
    assert len(df) == 1 and df["probability"].iloc[0] == 0.7
    assert "2 malformed" in caplog.text
    with pytest.raises(ValueError, match="unknown field"):
        make_record(prob=0.5)


def test_empty_folder_reads_as_empty_frame(tmp_path):
    df = read_request_log(tmp_path)
    assert df.empty and list(df.columns) == FIELDS


def _records(n: int) -> list[RequestLogRecord]:
    return [
        make_record(request_id=f"r{i}", endpoint="score_image", file="a.jpg", face=0, probability=0.5) for i in range(n)
    ]


def _lines(folder) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("requests-*.jsonl"))


def test_records_queued_at_exit_reach_disk(tmp_path):
    """A process that exits without close() (a server stopped by SIGTERM, a CLI run) keeps every record."""
    import subprocess
    import sys

    script = (
        "import sys; from deepfake_detect.scoring.requestlog import RequestLog, make_record\n"
        "log = RequestLog(sys.argv[1])\n"
        "log.write([make_record(request_id=str(i), probability=0.5) for i in range(50_000)])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    assert _lines(tmp_path) == 50_000


def test_close_writes_every_record_and_stops_the_writer(tmp_path):
    writer = RequestLog(tmp_path)
    writer.write(_records(50_000))
    writer.close()
    assert _lines(tmp_path) == 50_000 and not writer._thread.is_alive()
    writer.write(_records(3))  # after close (a late request during shutdown): written, not lost
    writer.close()  # closing twice is harmless
    assert _lines(tmp_path) == 50_003


def test_files_older_than_the_retention_are_pruned(tmp_path):
    today = datetime.now(UTC).date()
    days = {d: log_file(tmp_path, today - timedelta(days=d)) for d in (0, 6, 7, 30)}
    for path in days.values():
        path.write_text(make_record(probability=0.5).model_dump_json() + "\n")
    (tmp_path / "notes.txt").write_text("not a log file")
    (tmp_path / "requests-garbage.jsonl").write_text("")
    RequestLog(tmp_path, keep_days=7).close()
    assert sorted(d for d, p in days.items() if p.exists()) == [0, 6]
    assert (tmp_path / "notes.txt").exists() and (tmp_path / "requests-garbage.jsonl").exists()
    RequestLog(tmp_path, keep_days=0).close()  # 0 = keep everything
    assert days[6].exists()
