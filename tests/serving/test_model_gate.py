"""The gate of a model swap (serving/swap.py): a swap waits for the requests in flight, and a
request that comes during the swap waits for it."""

from __future__ import annotations

import threading
import time

from serving.swap import ModelGate


def test_a_swap_waits_for_requests_in_flight_and_new_requests_wait_for_the_swap():
    gate, events = ModelGate(), []
    in_flight, swapping = threading.Event(), threading.Event()

    def old_request() -> None:
        with gate.request():
            in_flight.set()
            time.sleep(0.3)
            events.append("old request done")

    def swap() -> None:
        in_flight.wait()
        with gate.swap():
            swapping.set()
            events.append("swap start")
            time.sleep(0.3)
            events.append("swap done")

    def new_request() -> None:
        swapping.wait()
        with gate.request():
            events.append("new request")

    threads = [threading.Thread(target=f) for f in (old_request, swap, new_request)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert events == ["old request done", "swap start", "swap done", "new request"]


def test_requests_share_the_gate():
    gate, inside = ModelGate(), []
    barrier = threading.Barrier(3, timeout=5)

    def request() -> None:
        with gate.request():
            inside.append(1)
            barrier.wait()  # all three are inside at once, or this times out

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(inside) == 3


def test_the_release_marker_tells_each_reader_once_per_announcement(tmp_path):
    from serving.swap import ReleaseMarker

    path = tmp_path / "run" / "served_model.json"
    writer, reader = ReleaseMarker(path), ReleaseMarker(path)  # two workers of one server
    assert reader.news() is None  # nothing announced yet
    writer.announce("deepfake-detector:b")
    assert reader.news() == "deepfake-detector:b"
    assert reader.news() is None  # the same announcement
    reader.look_again()  # its model was still loading: read it again next time
    assert reader.news() == "deepfake-detector:b"
    writer.announce("deepfake-detector:c")
    writer.announce("deepfake-detector:b")  # a rollback: the same tag again is news again
    assert reader.news() == "deepfake-detector:b"
    assert [p.name for p in path.parent.iterdir()] == ["served_model.json"]  # no temp file left
