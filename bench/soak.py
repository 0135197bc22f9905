"""Soak and fault benchmark of the service: N concurrent clients for T seconds against a real
`bentoml serve` on 127.0.0.1, then a SIGKILL in the middle of a request and a restart.

    python bench/soak.py [--seconds 120] [--clients 8] [--size 71] [--out bench/results/soak.json]

Clients pick (seeded) from valid clips, photos and ready face crops, and the hostile files the tests
make (playlists naming a server clip, concat lists, corrupt/truncated/oversize media, a high-fps
clip, a 16-bit RGBA PNG, a 250-byte file name) and hostile *decodes*: MJPEG clips in AVI and MKV whose
frames change size mid-clip, 144-Mpx frames behind a 640x480 header, many 8000x5000 frames.
Printed: requests served, 5xx (must be 0),
p50/p95 latency, the server tree's peak RSS over the first and the last fifth of the run, temp
files left (0), request-log records against faces scored (equal); then after the SIGKILL: that it
serves again and every request-log line is whole. ``--model-dir`` serves a real model folder (the promoted
EfficientNet-Lite0: ``models/promoted``) and adds the shared real clips (``../shared/data/videos``) to
the valid requests; without it a tiny untrained Xception (``--size``) stands for the model. With
``--rss-bound-mb`` the run fails (exit 1) when the server's peak RSS passes it, or on any 5xx, temp
file left or request-log record lost. Results also go to --out (git-ignored).

    python bench/soak.py --model-dir models/promoted --seconds 180 --clients 8 --rss-bound-mb 6000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "tests" / "serving")]
from serve import pct, save_to_store, start_server  # noqa: E402  (bench/serve.py)
from serving_kit import build_model_folder  # noqa: E402  (tests/serving: the tests' tiny Xception)

from deepfake_detect.scoring.service_process import stop_process_tree  # noqa: E402

KEY = "soak-key"


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def make_media(folder: Path) -> list[tuple[str, str, Path, dict[str, str]]]:
    """(kind, endpoint, file, form) for every request the clients send."""
    import cv2
    from serving_kit import make_bad_inputs, make_playlists, noise_clip
    from skimage import data as skdata

    from deepfake_detect.media.codec import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    photo = skdata.astronaut()
    face = photo[0:220, 140:330]
    clip = write_clip(folder / "astronaut.mp4", [np.roll(photo[:320, :320], 3 * i, axis=1) for i in range(40)], fps=10)
    cv2.imwrite(str(folder / "astronaut.jpg"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "face.jpg"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    long_name = folder / ("n" * 250 + ".jpg")
    long_name.write_bytes((folder / "face.jpg").read_bytes())
    deep = np.zeros((3000, 4000, 4), np.uint16)
    deep[..., :3], deep[..., 3] = 30_000, 65_535
    cv2.imwrite(str(folder / "deep16.png"), deep, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    items = [
        ("valid", "score_video", clip, {}),
        ("valid", "score_image", folder / "astronaut.jpg", {}),
        ("valid", "score_image", folder / "face.jpg", {"crop": "true"}),
        ("valid", "score_image", long_name, {"crop": "true"}),
        ("hostile", "score_image", folder / "deep16.png", {}),
        ("hostile", "score_video", noise_clip(folder / "fast.mp4", 60, 64, 500), {}),
    ]
    for path in make_playlists(folder / "playlists", clip, seconds=4.0).values():
        items.append(("hostile", "score_video", path, {}))
    for path, endpoint, _, _ in make_bad_inputs(folder / "bad").values():
        items.append(("hostile", endpoint, path, {}))
    items += hostile_decodes(folder / "decode")
    return items


def hostile_decodes(folder: Path) -> list[tuple[str, str, Path, dict[str, str]]]:
    """Clips whose headers lie about what they decode to (the security review's shapes)."""
    from serving_kit import mjpeg_clip

    folder.mkdir(parents=True, exist_ok=True)
    grow = {i: (12000, 12000) for i in (7, 23)}  # two 144-Mpx packets among 40 of 640x480
    return [
        ("hostile", "score_video", mjpeg_clip(folder / "grow.avi", sizes=grow), {}),
        ("hostile", "score_video", mjpeg_clip(folder / "grow.mkv", sizes=grow), {}),
        ("hostile", "score_video", mjpeg_clip(folder / "changes.avi", sizes={5: (1280, 960)}), {}),
        ("hostile", "score_video", mjpeg_clip(folder / "huge.mkv", sizes=dict.fromkeys(range(40), (12000, 12000))), {}),
        ("hostile", "score_video", mjpeg_clip(folder / "big8000.avi", header=(8000, 5000), frames=64), {}),
    ]


def real_clips(folder: Path) -> list[tuple[str, str, Path, dict[str, str]]]:
    """The shared real DFDC / FF++ clips as valid requests (none when the folder is absent)."""
    return [("valid", "score_video", clip, {}) for clip in sorted(folder.glob("*.mp4"))]


def faces_in(body: dict) -> int:
    if "results" in body:
        return sum(r.get("faces_found", 0) for r in body["results"])
    return int(body.get("faces_found") or 0)


def run_clients(url: str, items: list, clients: int, seconds: float, seed: int, pid: int) -> dict:
    import httpx

    stop = time.monotonic() + seconds
    lock = threading.Lock()
    stats = {"requests": 0, "by_status": {}, "latency_s": [], "faces": 0, "errors": [], "rss": []}

    def client(index: int) -> None:
        rng = random.Random(seed + index)
        with httpx.Client(headers={"X-API-Key": KEY}, timeout=600) as http:
            while time.monotonic() < stop:
                kind, endpoint, path, form = rng.choice(items)
                t = time.perf_counter()
                try:
                    with path.open("rb") as fh:
                        r = http.post(f"{url}/{endpoint}", files={"file": (path.name, fh)}, data=form)
                    status, body = (
                        r.status_code,
                        (r.json() if r.headers.get("content-type", "").startswith("application/json") else {}),
                    )
                except httpx.HTTPError as exc:
                    status, body = 0, {"error": type(exc).__name__}
                elapsed = time.perf_counter() - t
                with lock:
                    stats["requests"] += 1
                    stats["by_status"][status] = stats["by_status"].get(status, 0) + 1
                    stats["latency_s"].append(elapsed)
                    if status == 200:
                        stats["faces"] += faces_in(body)
                    if status >= 500 or status == 0 or (kind == "valid" and status != 200):
                        stats["errors"].append((path.name[:40], endpoint, status, str(body)[:200]))

    def sample_rss() -> None:
        while time.monotonic() < stop:
            stats["rss"].append((time.monotonic(), tree_rss(pid)))
            time.sleep(1)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=sample_rss))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def log_lines(folder: Path) -> tuple[int, int]:
    """(records, lines that are not whole JSON objects) in the request log."""
    good = bad = 0
    for path in folder.glob("requests-*.jsonl"):
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                json.loads(line)
                good += 1
            except ValueError:
                bad += 1
    return good, bad


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def kill_mid_request(url: str, proc, clip: Path) -> str:
    """Send a clip, SIGKILL the whole server tree while it is being scored; the client's outcome."""
    import httpx
    import psutil

    outcome: list[str] = []

    def send() -> None:
        try:
            with clip.open("rb") as fh:
                r = httpx.post(
                    f"{url}/score_video", files={"file": (clip.name, fh)}, headers={"X-API-Key": KEY}, timeout=60
                )
            outcome.append(str(r.status_code))
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.4)
    for p in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    sender.join(timeout=60)
    return outcome[0] if outcome else "no answer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--size", type=int, default=71, help="input size of the stand-in Xception")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "soak.json")
    ap.add_argument("--keep", action="store_true", help="keep the workspace (server logs, request log, media)")
    ap.add_argument(
        "--model-dir", type=Path, help="serve this model folder (e.g. models/promoted) instead of a stand-in"
    )
    ap.add_argument(
        "--shared", type=Path, default=ROOT.parent / "shared" / "data" / "videos", help="real clips (valid)"
    )
    ap.add_argument("--rss-bound-mb", type=float, help="fail when the server's peak RSS passes this")
    args = ap.parse_args()
    import httpx
    import yaml

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    home, tmp, logs = work / "bentoml", work / "t", work / "requests"
    tmp.mkdir(parents=True)
    os.environ["BENTOML_HOME"] = str(home)
    save_to_store(
        args.model_dir.resolve() if args.model_dir else build_model_folder(work / "model", input_size=args.size)
    )
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["serve"]["request_log_dir"] = str(logs)
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "DEEPFAKE_PARAMS": str(work / "params.yaml"),
        "DEEPFAKE_API_KEY": KEY,
        "TMPDIR": str(tmp),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    items = make_media(work / "media") + (real_clips(args.shared) if args.model_dir else [])
    print(f"workspace {work}: {len(items)} kinds of request, {args.clients} clients, {args.seconds:.0f} s")

    proc, url = start_server(env, work / "serve.log")
    try:
        warm = items[2]  # one face crop: loads the model path before the clock starts
        with warm[2].open("rb") as fh:
            warm_faces = faces_in(
                httpx.post(
                    f"{url}/score_image", files={"file": fh}, data=warm[3], headers={"X-API-Key": KEY}, timeout=600
                ).json()
            )
        stats = run_clients(url, items, args.clients, args.seconds, args.seed, proc.pid)
        stats["faces"] += warm_faces  # the request log has the warm-up's faces too
        time.sleep(3)  # the request log's writer thread
        records, broken = log_lines(logs)
        left = temp_files(tmp)
        crash = kill_mid_request(url, proc, items[0][2])
    finally:
        stop_process_tree(proc)
    left_after_kill = temp_files(tmp)
    proc, url = start_server(env, work / "serve2.log")
    try:
        with items[2][2].open("rb") as fh:
            again = httpx.post(
                f"{url}/score_image", files={"file": fh}, data=items[2][3], headers={"X-API-Key": KEY}, timeout=600
            ).status_code
    finally:
        stop_process_tree(proc)  # SIGTERM: the shutdown hook drains the request log
    records_end, broken_end = log_lines(logs)

    rss = stats["rss"]
    fifth = max(1, len(rss) // 5)
    lat = stats["latency_s"]
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": stats["requests"],
        "by_status": dict(sorted(stats["by_status"].items())),
        "5xx": sum(n for s, n in stats["by_status"].items() if s >= 500 or s == 0),
        "p50_ms": round(pct(lat, 50) * 1000),
        "p95_ms": round(pct(lat, 95) * 1000),
        "mean_ms": round(statistics.fmean(lat) * 1000) if lat else None,
        "rss_peak_start_mb": round(max(r for _, r in rss[:fifth]) / 1e6) if rss else None,
        "rss_peak_end_mb": round(max(r for _, r in rss[-fifth:]) / 1e6) if rss else None,
        "rss_peak_mb": round(max(r for _, r in rss) / 1e6) if rss else None,
        "rss_bound_mb": args.rss_bound_mb,
        "model": str(args.model_dir) if args.model_dir else f"stand-in Xception {args.size}px",
        "temp_files_left": len(left),
        "faces_scored": stats["faces"],
        "request_log_records": records,
        "request_log_broken_lines": broken,
        "errors": stats["errors"][:10],
        "kill": {
            "client_saw": crash,
            "temp_files_after_kill": len(left_after_kill),
            "serves_after_restart": again == 200,
            "request_log_records": records_end,
            "request_log_broken_lines": broken_end,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"requests served       {result['requests']} ({result['by_status']})")
    print(f"5xx                   {result['5xx']}")
    print(f"latency p50 / p95     {result['p50_ms']} / {result['p95_ms']} ms")
    print(
        f"server peak RSS       {result['rss_peak_start_mb']} MB (first fifth) -> "
        f"{result['rss_peak_end_mb']} MB (last fifth)"
    )
    print(f"temp files left       {result['temp_files_left']}")
    print(f"request-log records   {records} for {stats['faces']} faces scored ({broken} broken lines)")
    print(
        f"SIGKILL mid-request   client saw {crash}; temp files after kill {len(left_after_kill)}; "
        f"serves after restart: {again == 200}; log lines broken: {broken_end} of {records_end + broken_end}"
    )
    for err in result["errors"]:
        print("  error:", err)
    if args.keep:
        print(f"workspace kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if args.rss_bound_mb is not None:
        failed = [
            *(["peak RSS over the bound"] if (result["rss_peak_mb"] or 0) > args.rss_bound_mb else []),
            *(["5xx"] if result["5xx"] else []),
            *(["temp files left"] if result["temp_files_left"] else []),
            *(["request-log records lost"] if records != stats["faces"] else []),
        ]
        print(f"bound {args.rss_bound_mb:.0f} MB, peak {result['rss_peak_mb']} MB: {', '.join(failed) or 'all held'}")
        if failed:
            sys.exit(1)


if __name__ == "__main__":
    main()
