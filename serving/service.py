"""BentoML service: deepfake scores for uploaded videos and images (``make serve``).

Two services:
  ``FaceModel``          the promoted model (``serve.model_tag`` in the BentoML model store,
                         referenced at class level so ``bentoml build`` packs it) in two slots (the
                         served model and the one before, so a reload never scores a request with a
                         model its threshold does not belong to); its ``score_a`` / ``score_b`` APIs
                         are batchable. With ``serve.model_in_front`` each front worker runs it in its
                         own process (a method call per request: no second process, no crop IPC);
                         otherwise it is a service of its own, and BentoML's adaptive batching merges
                         the crops of every worker's concurrent requests into one model call.
  ``DeepfakeDetector``   the HTTP front: ``/score_video``, ``/score_image``, ``/score_images``
                         (batch), ``/explain`` (Grad-CAM PNG); decoding and face detection run here
                         through :mod:`deepfake_detect.scoring.scorer`, the same path as ``deepfake score``;
                         the reviewer page at ``/ui`` (:mod:`serving.reviewer`) and the review queue
                         behind the admin key (``/review_items``, ``/review_label``); ``/reload``
                         serves the store's new ``serve.model_tag`` without a restart (a promotion:
                         loaded and warmed first, then swapped between requests, :mod:`serving.swap`),
                         and the release marker carries it to every other front worker.

Errors are 4xx JSON ``{"error", "detail"}`` (504 past ``serve.deadline_s``); uploads over
``serve.max_upload_mb`` get 413 before they are read. Closed by default (:mod:`serving.guard`): off
loopback it will not start without the key named by ``serve.api_key_env``, an empty key is an error,
``/reload`` needs the admin key (``serve.admin_key_env``), and a form, multipart or text/plain request
needs the ``X-API-Key`` header; with the key set, every endpoint but the health checks needs it. The front serves
``serve.threads`` requests at once per worker, so concurrent requests overlap and their face crops
meet in the model's batches. Settings come from params.yaml (``$DEEPFAKE_PARAMS``).

One file on purpose, past the ~300-line guide: ``bentoml build`` and ``bentoml serve`` name it as the
service (``serving.service:DeepfakeDetector``); each API is a thin typed shell over ``deepfake_detect``,
and the guard, the reviewer page and the model swap already live in their own modules.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import BeforeValidator
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "deepfake_detect").is_dir() and str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # inside a built bento the package travels as source

from deepfake_detect.config import load_params  # noqa: E402
from deepfake_detect.media.checks import ScoringError  # noqa: E402
from deepfake_detect.scoring.names import clean_name  # noqa: E402
from deepfake_detect.scoring.result import BatchScoreResult, ModelInfo, ScoreResult  # noqa: E402
from deepfake_detect.scoring.review import ReviewError, ReviewItem, ReviewListing, ReviewQueue  # noqa: E402
from deepfake_detect.scoring.scorer import ClientGone, Scorer  # noqa: E402
from serving.batcher import NaturalBatcher  # noqa: E402
from serving.guard import GuardMiddleware, check_keys, sweep_orphan_uploads  # noqa: E402
from serving.reviewer import UI_PATH, reviewer_app  # noqa: E402
from serving.swap import ModelGate, Prepared, ReleaseMarker, Reloaded, Served  # noqa: E402

PARAMS = load_params(os.environ.get("DEEPFAKE_PARAMS") or ROOT / "params.yaml")
SERVE = PARAMS.serve
MAX_NOTE = 1000  # characters of a reviewer's note
log = logging.getLogger("deepfake_detect.serving")


def _serve_host() -> str | None:
    """The address ``bentoml serve`` binds, read in its own process (the one that imports this module
    before any worker starts); None elsewhere (workers, in-process use)."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or "host" not in ctx.params:
        return None
    if ctx.params["host"]:
        return str(ctx.params["host"])
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.http.host.get())  # BentoML's default when --host is not given (0.0.0.0)


HOST = _serve_host()
check_keys(os.environ, HOST, SERVE.api_key_env, SERVE.admin_key_env)  # closed by default
RUN_DIR_ENV = "DEEPFAKE_SERVING_RUN"  # the folder of this `bentoml serve`'s release marker


def _new_run_dir() -> str:
    """A folder for the release marker, removed when this process exits."""
    import atexit
    import shutil

    folder = tempfile.mkdtemp(prefix="deepfake-serving-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


if HOST is not None:  # the `bentoml serve` process: its workers inherit the variable (circus copies the env)
    os.environ[RUN_DIR_ENV] = _new_run_dir()


def _run_dir() -> Path:
    """Where this server's workers share the release marker (in-process use: a folder of its own)."""
    return Path(os.environ.get(RUN_DIR_ENV) or _new_run_dir())


def short_name(name: str, max_bytes: int) -> str:
    """``name`` cut to ``max_bytes`` of UTF-8, extension kept: BentoML stores an upload as
    ``tmpXXXXXXXX<name>``, and a name near the file system's 255 bytes would fail with a 500."""
    if len(name.encode()) <= max_bytes:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) < max_bytes // 2 else ""
    stem = name[: len(name) - len(suffix)].encode()[: max_bytes - len(suffix.encode())]
    return stem.decode(errors="ignore") + suffix


def _shorten_upload(value: Any) -> Any:
    if isinstance(value, UploadFile) and value.filename:
        value.filename = short_name(clean_name(Path(value.filename).name), SERVE.max_name_bytes)
    return value


Upload = Annotated[Path, BeforeValidator(_shorten_upload)]  # an upload, its name cleaned and truncated first


def _upload_name(path: Path) -> str:
    """The client's file name: BentoML stores an upload as ``tmpXXXXXXXX<name>``."""
    name = path.name
    return name[11:] if name.startswith("tmp") and len(name) > 11 else name


@contextlib.contextmanager
def _consumed(*uploads: Path) -> Iterator[None]:
    """Delete this request's uploads as soon as the endpoint is done with them: BentoML empties its
    request temp dir only after the response is sent (a client could still see them, a crash keep them).
    Only files in that dir are touched: called in-process with the caller's own paths, nothing is."""
    try:
        yield
    finally:
        from bentoml._internal.context import request_temp_dir  # what bentoml.Context.temp_dir returns

        try:
            request_dir = Path(request_temp_dir())
        except LookupError:  # no HTTP request: the paths are the caller's files
            request_dir = None
        for path in uploads:
            if request_dir is not None and path.parent == request_dir:
                path.unlink(missing_ok=True)


def _client_gone_probe() -> ClientGone | None:
    """This HTTP request's "has the client gone?" for the scorer's deadline (asked at most every
    ``serve.disconnect_poll_s``): from the API's worker thread it runs starlette's
    ``Request.is_disconnected`` on the server's event loop, so a client that hung up stops its
    request's decoding and detection instead of running on to ``serve.deadline_s``. None outside an
    HTTP request (in-process calls)."""
    import anyio.from_thread

    try:
        request = bentoml.Context().request
    except LookupError:
        return None

    def gone() -> bool:
        try:
            return bool(anyio.from_thread.run(request.is_disconnected))
        except RuntimeError:  # not in an anyio worker thread: cannot ask, so keep working
            return False

    return gone


def _error(exc: ScoringError) -> JSONResponse:
    if exc.status == 499:
        log.warning("%s", exc.detail)  # nobody reads the answer: the log says where the work stopped
    return JSONResponse(exc.to_dict(), status_code=exc.status)


def _once_more_if_dropped(call: Any, *args: Any) -> Any:
    """A model-service call, made once more when its connection dropped before any answer: BentoML's
    client reuses a pooled keep-alive connection that the model service may be closing at that very
    moment (aiohttp's "Server disconnected" / "Can not write request body", seen as 500s under load).
    Scoring and Grad-CAM are pure and ``prepare`` keeps what it loaded, so a second call is safe."""
    import aiohttp

    try:
        return call(*args)
    except (aiohttp.ClientConnectionError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "Connection closed" not in str(exc):
            raise  # aiohttp's "Connection closed." while reading the answer is the same race
        log.warning("model service connection dropped (%s): calling it once more", exc)
        return call(*args)


@bentoml.service(name="face_model", workers=1, traffic={"timeout": SERVE.timeout_s})
class FaceModel:
    """The promoted model: P(FAKE) + compact embedding per face crop, Grad-CAM overlays.

    Two slots: the model served and the one before it (or the one being loaded). A reload loads the
    new model into the other slot, so front workers that have not switched yet keep scoring on the
    old one; each slot has its own batchable API, so crops of two models (maybe of two input sizes)
    never meet in one batch. Runs as its own service (``serve.model_in_front: false``, one model for
    every front worker's batches) or inside each front worker (``true``: no crop IPC)."""

    bento_model = bentoml.models.BentoModel(SERVE.model_tag)

    def __init__(self) -> None:
        import threading

        self._slots: list[tuple[Any, ModelInfo] | None] = [
            self._load(self.bento_model.path, str(self.bento_model.tag)),
            None,
        ]
        self._current = 0  # the slot the newest reload serves; a load goes to the other one
        self._swap_lock = threading.Lock()
        self._loader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model-loader")
        self._loading: tuple[str, concurrent.futures.Future] | None = None  # (asked tag, its load)

    @staticmethod
    def _load(path: str, bento_tag: str) -> tuple[Any, ModelInfo]:
        from deepfake_detect.models.predictor import load_predictor
        from deepfake_detect.scoring.scorer import model_info

        model = load_predictor(path, SERVE.prior_fake)  # P(FAKE) at the traffic's base rate
        info = model_info(model, bento_tag=bento_tag)
        size = info.input_size
        for n in (1, 2):  # trace the predict function for a generic batch size before traffic
            model.score(np.zeros((n, size, size, 3), np.uint8))
        log.info("loaded %s (%s) threshold=%.4f", info.tag, info.bento_tag, info.threshold)
        return model, info

    def _model(self, slot: int) -> Any:
        held = self._slots[slot]
        if held is None:
            raise ValueError(f"model slot {slot} holds no model")
        return held[0]

    def _score(self, slot: int, crops: np.ndarray) -> np.ndarray:
        probs, emb = self._model(slot).score(np.asarray(crops, dtype=np.uint8))
        emb = emb if emb.size else np.zeros((len(probs), 0), np.float32)
        return np.concatenate([probs.reshape(-1, 1), emb], axis=1).astype(np.float32)

    @bentoml.api(batchable=True, max_batch_size=SERVE.batch_max_size, max_latency_ms=SERVE.batch_max_latency_ms)
    def score_a(self, crops: np.ndarray) -> np.ndarray:
        """Slot 0: crops (N, S, S, 3) uint8 at the model's input size → (N, 1 + E): P(FAKE), embedding."""
        return self._score(0, crops)

    @bentoml.api(batchable=True, max_batch_size=SERVE.batch_max_size, max_latency_ms=SERVE.batch_max_latency_ms)
    def score_b(self, crops: np.ndarray) -> np.ndarray:
        """Slot 1: as ``score_a``."""
        return self._score(1, crops)

    @bentoml.api
    def explain(self, crops: np.ndarray, slot: int = 0) -> list[bytes]:
        return self._model(slot).explain(np.asarray(crops, dtype=np.uint8))

    @bentoml.api
    def model_info(self) -> Served:
        """The model the newest reload serves and its slot."""
        with self._swap_lock:
            return self._served(self._current)

    def _slot_of(self, bento_tag: str) -> int | None:
        """The slot holding the model of this store tag, if one does (callers hold ``_swap_lock``)."""
        return next((k for k, h in enumerate(self._slots) if h is not None and h[1].bento_tag == bento_tag), None)

    def _served(self, slot: int) -> Served:
        held = self._slots[slot]
        assert held is not None
        return Served(slot=slot, model=held[1])

    @bentoml.api
    def prepare(self, bento_tag: str = "") -> Prepared:
        """Load and warm ``bento_tag`` (empty: the store's ``serve.model_tag`` now) into the other slot,
        in a thread of its own so that scoring goes on: state ``loading`` until it is done, then
        ``unchanged`` when it is the model served, ``ready`` with its slot and facts, or ``failed``
        when it cannot be loaded (the served model stays). The front polls: a call that lasts the
        whole load is dropped by the service's server after a few seconds."""
        with self._swap_lock:
            if bento_tag and (slot := self._slot_of(bento_tag)) is not None:  # loaded: no loader round
                state = "unchanged" if slot == self._current else "ready"
                return Prepared(state=state, slot=slot, model=self._served(slot).model)
            if self._loading is not None and self._loading[0] != bento_tag and not self._loading[1].done():
                return Prepared(state="loading")  # another tag's load first (one loader)
            if self._loading is None or self._loading[0] != bento_tag:
                self._loading = (bento_tag, self._loader.submit(self._prepare, bento_tag))
            if not self._loading[1].done():
                return Prepared(state="loading")
            done, self._loading = self._loading[1], None
        return done.result()

    def _prepare(self, bento_tag: str) -> Prepared:
        from bentoml.exceptions import NotFound

        from deepfake_detect.models.predictor import ModelLoadError

        asked = bento_tag or SERVE.model_tag
        try:
            stored = str(bentoml.models.get(asked).tag)
            with self._swap_lock:
                if (slot := self._slot_of(stored)) is not None:
                    state = "unchanged" if slot == self._current else "ready"
                    return Prepared(state=state, slot=slot, model=self._served(slot).model)
                free = 1 - self._current
            loaded = self._load(bentoml.models.get(stored).path, stored)
            with self._swap_lock:
                if free == self._current:  # a swap to the free slot meanwhile (cannot happen: it held no tag)
                    return Prepared(state="failed", error=f"{asked}: the slot changed during the load")
                self._slots[free] = loaded  # laggards on this slot's old model: it is two reloads old
        except (NotFound, ModelLoadError) as exc:
            return Prepared(state="failed", error=f"{asked}: {exc}")
        return Prepared(state="ready", slot=free, model=loaded[1])

    @bentoml.api
    def swap(self, bento_tag: str) -> Served:
        """Make the slot holding ``bento_tag`` (loaded by ``prepare``) the served one; a batch in progress
        finishes on its own slot, and the other slot keeps its model for fronts that have not switched."""
        with self._swap_lock:
            slot = self._slot_of(bento_tag)
            if slot is None:
                raise ValueError(f"{bento_tag}: not loaded (call prepare first)")
            self._current = slot
            return self._served(slot)


@bentoml.asgi_app(reviewer_app(), path=UI_PATH, name="reviewer")  # the reviewer page, serving/ui/
@bentoml.service(
    name="deepfake_detector",
    workers=SERVE.workers,
    threads=SERVE.threads,
    traffic={"timeout": SERVE.timeout_s, "max_concurrency": SERVE.max_concurrency},
    logging={"access": {"enabled": SERVE.access_log}},
)
class DeepfakeDetector:
    """HTTP front: media checks, frame sampling, face detection, aggregation, request log."""

    if SERVE.model_in_front:
        bento_model = bentoml.models.BentoModel(SERVE.model_tag)  # packed with this service: the model runs in it
    else:
        face_model = bentoml.depends(FaceModel)

    def __init__(self) -> None:
        import threading

        from deepfake_detect.scoring.recorder import Recorder
        from deepfake_detect.scoring.requestlog import RequestLog
        from deepfake_detect.scoring.uploads import UploadFaces

        swept = sweep_orphan_uploads(Path(tempfile.gettempdir()), SERVE.timeout_s)
        if swept:
            log.warning("deleted %d upload(s) left in BentoML's request temp dirs by a killed server", swept)
        if SERVE.model_in_front:
            self.face_model = FaceModel()  # this worker's own model: scored by a call, not over a socket
            # concurrent requests share model calls (BentoML batches only a service's own server)
            self._batchers = [
                NaturalBatcher(self.face_model.score_a, SERVE.batch_max_size),
                NaturalBatcher(self.face_model.score_b, SERVE.batch_max_size),
            ]
        self.request_log = (
            RequestLog(SERVE.request_log_dir, keep_days=SERVE.request_log_days) if SERVE.request_log else None
        )
        self.recorder = Recorder(PARAMS, self.request_log)
        self._scorer: Scorer | None = None
        self._lock = threading.Lock()
        self._following = threading.Lock()  # one thread of this worker follows the marker, or reloads
        self._gate = ModelGate()  # a model swap waits for the requests in flight; new ones wait for it
        self._marker = ReleaseMarker(_run_dir() / "served_model.json")
        # the face detector is built and warmed now; the model's facts come on first use (the
        # dependency's client is only connected once this service has started)
        warm = UploadFaces(PARAMS)
        warm.warm_up()
        self._detector = warm.detector
        log.info(
            "deepfake_detector: frames/video=%d, upload limit %.0f MB, API key %s, model %s",
            SERVE.frames_per_video,
            SERVE.max_upload_mb,
            "required" if os.environ.get(SERVE.api_key_env) else "off (loopback only)",
            "in this process" if SERVE.model_in_front else "in the model service",
        )

    @bentoml.on_shutdown
    def close_request_log(self) -> None:
        """Write every queued request-log record before the worker exits."""
        if self.request_log is not None:
            self.request_log.close()

    @property
    def scorer(self) -> Scorer:
        with self._lock:
            if self._scorer is None:
                self._scorer = self._scorer_for(
                    Served.model_validate(self.face_model.model_info(), from_attributes=True)
                )
            return self._scorer

    def _scorer_for(self, served: Served) -> Scorer:
        info, slot = served.model, served.slot
        log.info("serving model %s (%s), threshold %.4f, slot %d", info.tag, info.bento_tag, info.threshold, slot)
        if SERVE.model_in_front:
            score = self._batchers[slot]
        else:
            score = (self.face_model.score_a, self.face_model.score_b)[slot]

        def score_fn(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.asarray(_once_more_if_dropped(score, crops))
            return out[:, 0], out[:, 1:]

        def explain_fn(crops: np.ndarray) -> list[bytes]:
            return list(_once_more_if_dropped(self.face_model.explain, crops, slot))

        return Scorer(PARAMS, info, score_fn, explain_fn=explain_fn, recorder=self.recorder, detector=self._detector)

    @contextlib.contextmanager
    def _serving(self) -> Iterator[Scorer]:
        """The scorer of one request: the model it starts on is the model it finishes on. First, between
        requests, the model another worker's ``/reload`` announced is served once it is loaded."""
        self._follow()
        with self._gate.request():
            yield self.scorer

    def _follow(self) -> None:
        """Serve the model the release marker names when it is not this worker's (a read of a few
        dozen bytes when nothing changed). The model service has it loaded already; a worker that
        runs its own model loads it in its loader thread and serves the old one until it is ready."""
        with self._following:  # a request meanwhile waits: it is served by the model announced
            announced = self._marker.news()
            if announced is None or announced == self.scorer.info.bento_tag:
                return
            loaded = self._prepare_once(announced)
            if loaded.state == "loading":
                self._marker.look_again()
            elif loaded.state == "failed":
                log.error("cannot serve the announced model %s: %s", announced, loaded.error)
            else:
                self._switch(loaded)

    def _switch(self, loaded: Prepared) -> None:
        """Serve the prepared model: the model's slot becomes the served one, then this worker's scorer
        is rebuilt while no request is in flight (:class:`ModelGate`)."""
        assert loaded.model is not None and loaded.model.bento_tag is not None
        served = Served.model_validate(
            _once_more_if_dropped(self.face_model.swap, loaded.model.bento_tag), from_attributes=True
        )
        with self._gate.swap(), self._lock:
            self._scorer = self._scorer_for(served)

    @bentoml.api
    def score_video(self, file: Upload, explain: bool = False) -> ScoreResult:
        """An mp4/avi/mov/webm clip → label, aggregated probability, per-frame and per-face scores."""
        with _consumed(file), self._serving() as scorer:
            try:
                return scorer.score_video(file, _upload_name(file), explain=explain, client_gone=_client_gone_probe())
            except ScoringError as exc:
                return _error(exc)

    @bentoml.api
    def score_image(self, file: Upload, crop: bool = False, explain: bool = False) -> ScoreResult:
        """A photo or frame (faces detected), or with ``crop=true`` a ready face crop."""
        with _consumed(file), self._serving() as scorer:
            try:
                return scorer.score_image(
                    file, _upload_name(file), crop=crop, explain=explain, client_gone=_client_gone_probe()
                )
            except ScoringError as exc:
                return _error(exc)

    @bentoml.api
    def score_images(self, files: list[Upload], crop: bool = False) -> BatchScoreResult:
        """Many images in one request, all faces in one model call; a bad image gets its own error."""
        if not files:
            return _error(ScoringError(400, "no_files", "files: send at least one image"))
        if len(files) > SERVE.max_batch_images:  # BentoML's request temp dir removes them
            return _error(
                ScoringError(
                    413,
                    "too_many_files",
                    f"files: {len(files)} images is over the {SERVE.max_batch_images}-image limit of one request",
                )
            )
        with _consumed(*files), self._serving() as scorer:
            try:
                results = scorer.score_images(
                    files, [_upload_name(f) for f in files], crop=crop, client_gone=_client_gone_probe()
                )
            except ScoringError as exc:  # the deadline or a gone client: bad images get entries, not exceptions
                return _error(exc)
        request_id = next((r.request_id for r in results if isinstance(r, ScoreResult)), None)
        return BatchScoreResult(request_id=request_id, results=results)

    @bentoml.api
    def explain(self, file: Upload, crop: bool = False) -> bytes:
        """Grad-CAM overlay (PNG) of the largest face in an image."""
        with _consumed(file), self._serving() as scorer:
            try:
                pngs = scorer.explain_pngs(file, _upload_name(file), crop=crop, client_gone=_client_gone_probe())
            except ScoringError as exc:
                return _error(exc)
        return Response(pngs[0], media_type="image/png")

    @bentoml.api
    def reload(self) -> Reloaded:
        """Serve the model store's ``serve.model_tag`` now (what a promotion just saved), no restart:
        the new model is loaded and warmed first, then requests in flight finish on the old one while
        new ones wait, and the swap is one reference (the DAG's ``notify_serving`` calls this). The
        release marker then tells every other front worker, which switches before its next request."""
        previous = self.scorer.info
        loaded = self._prepared()
        if loaded.state == "failed":
            return _error(ScoringError(503, "reload_failed", loaded.error or SERVE.model_tag))
        assert loaded.model is not None
        with self._following:  # not interleaved with this worker following an older announcement
            if loaded.model.bento_tag != self.scorer.info.bento_tag:
                self._switch(loaded)
            info = self.scorer.info
            self._marker.announce(str(info.bento_tag))
        return Reloaded(
            changed=info.bento_tag != previous.bento_tag,
            tag=info.tag,
            bento_tag=info.bento_tag,
            previous=previous.tag,
            previous_bento_tag=previous.bento_tag,
        )

    def _prepared(self) -> Prepared:
        """The model's ``prepare`` of the store's ``serve.model_tag``, polled until its load is done
        (each call is short)."""
        deadline = time.monotonic() + SERVE.timeout_s
        while (loaded := self._prepare_once("")).state == "loading":
            if time.monotonic() > deadline:
                return Prepared(
                    state="failed",
                    error=f"{SERVE.model_tag}: still loading after serve.timeout_s ({SERVE.timeout_s} s)",
                )
            time.sleep(0.5)
        return loaded

    def _prepare_once(self, bento_tag: str) -> Prepared:
        return Prepared.model_validate(_once_more_if_dropped(self.face_model.prepare, bento_tag), from_attributes=True)

    @bentoml.api
    def review_items(self, labelled: bool = False) -> ReviewListing:
        """The review queue, newest first: why each request was kept, its P(FAKE), threshold, model tag and a
        thumbnail; ``labelled`` lists the labelled ones too. Admin key only: the crops are people's faces."""
        return ReviewQueue(PARAMS).listing(labelled)

    @bentoml.api
    def review_label(self, item_id: str, label: str, note: str = "") -> ReviewItem:
        """Label a kept request REAL or FAKE with a note, through the code path of ``deepfake review label``:
        its crops join the feedback dataset (``data.feedback_dir``); a second label replaces the first.
        Admin key only. 400 for a label that is not REAL or FAKE or a note over 1000 characters, 404 for
        an id not in the queue."""
        from deepfake_detect.scoring.feedback import label_item

        if label.strip().upper() not in ("REAL", "FAKE"):
            return _error(ScoringError(400, "bad_label", f"label {label[:20]!r} is not REAL or FAKE"))
        if len(note) > MAX_NOTE:
            return _error(ScoringError(400, "note_too_long", f"note: {len(note)} characters, at most {MAX_NOTE}"))
        try:
            return label_item(PARAMS, item_id, label, note.strip() or None)
        except ReviewError as exc:
            return _error(ScoringError(404, "unknown_item", str(exc)))

    @bentoml.api
    def model(self) -> dict[str, Any]:
        """The model being served, the limits it enforces, and which front worker answers (1, 2, ...)."""
        with self._serving() as scorer:  # a model another worker's /reload announced first
            info = scorer.info
        return {
            **info.model_dump(),
            "worker": bentoml.server_context.worker_index,
            "frames_per_video": SERVE.frames_per_video,
            "max_upload_mb": SERVE.max_upload_mb,
            "max_duration_s": SERVE.max_duration_s,
            "max_fps": SERVE.max_fps,
            "max_frames": SERVE.max_frames,
            "deadline_s": SERVE.deadline_s,
            "video_formats": SERVE.video_formats,
            "aggregation": PARAMS.evaluate.video_aggregation,
        }


DeepfakeDetector.add_asgi_middleware(
    GuardMiddleware,
    max_bytes=int(SERVE.max_upload_mb * 1e6),
    api_key_env=SERVE.api_key_env,
    admin_key_env=SERVE.admin_key_env,
    # the files of /score_images and a few form fields (crop, explain): past it 413 before the form parser
    max_parts=SERVE.max_batch_images + 8,
)
