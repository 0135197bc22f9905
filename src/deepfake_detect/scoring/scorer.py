"""Media → faces → scores: the one path that the BentoML service and ``deepfake score`` share.

Video: ``serve.frames_per_video`` evenly spaced frames (:func:`media.sampler.iter_sample_frames`, the same
frames training samples), faces found, cropped and linked into people by :mod:`.clipfaces` exactly
as the extract stage does, every face scored, each person aggregated with
:func:`aggregate.people_scores` (``evaluate.clip`` / ``video_aggregation`` / ``person_min_share``,
exactly as evaluate does) and the clip scored as its fakest person, labelled with the promoted
threshold. Face detection and the model overlap decoding (a thread): each ``serve.detect_batch`` of
frames is detected and its faces scored while the next frames decode.
Image: faces detected the same way, or with ``crop=True`` the image is a ready face crop; each face
is a person and the image scores as its fakest face. No face → ``label`` NO_FACE and
``probability`` None: never a made-up 0.5. Uploads are checked first (:mod:`.media`: container
allow-list, fps and frame caps, pixel budget); a request stops its own work at ``serve.deadline_s``.
Bad input raises :class:`ScoringError` with an HTTP status, a short error code and a detail naming
the file (never a server path) and what is wrong.

One module on purpose, past the ~300-line guide: the one scoring path of the service and the CLI;
videos, images and crops share its faces → scores → answer helpers, and a client that hangs up or a
deadline stops each the same way."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from deepfake_detect.config import Params
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.faces.framing import framed_as_trained
from deepfake_detect.media.checks import IMAGE_SUFFIXES, Deadline, PixelBudget, ScoringError, read_image
from deepfake_detect.models.aggregate import PersonScore, clip_probability, people_scores
from deepfake_detect.models.gradcam import ExplainUnavailableError
from deepfake_detect.models.gradcam import explain_refusal as explain_refusal_of
from deepfake_detect.models.predictor import Predictor, load_predictor
from deepfake_detect.scoring.answers import FAKE, NO_FACE, REAL, Answered, answer
from deepfake_detect.scoring.names import clean_name
from deepfake_detect.scoring.result import MediaInfo, ModelInfo, ScoreError, ScoreResult
from deepfake_detect.scoring.uploads import Timer, UploadFaces

if TYPE_CHECKING:
    from deepfake_detect.scoring.recorder import Recorder

__all__ = [
    "FAKE",
    "IMAGE_SUFFIXES",
    "NO_FACE",
    "REAL",
    "ModelInfo",
    "Scorer",
    "ScoringError",
    "load_from_store",
    "load_predictor",
    "local_scorer",
    "model_info",
    "read_image",
]

log = logging.getLogger(__name__)

ScoreFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # crops (N,S,S,3) uint8 → probs, embeddings
ExplainFn = Callable[[np.ndarray], list[bytes]]  # crops → PNG overlays
ClientGone = Callable[[], bool]  # the service's probe: has this request's client disconnected?
STOPS_THE_REQUEST = (499, 504)  # a gone client or the deadline stops a batch whole; other errors are per image


def model_info(predictor: Predictor, bento_tag: str | None = None) -> ModelInfo:
    return ModelInfo(
        tag=predictor.tag,
        threshold=predictor.threshold,
        input_size=predictor.input_size,
        family=predictor.family,
        bento_tag=bento_tag,
        crop_margin=predictor.record.crop_margin,
        ood=predictor.record.ood,
        compression=predictor.record.compression,
        members=predictor.record.members or [],
    )


def explain_refusal(info: ModelInfo) -> ScoringError | None:
    """Why this model cannot be explained (:func:`predictor.explain_refusal`) as a 422, or None."""
    refusal = explain_refusal_of(info.family, info.tag)
    return None if refusal is None else ScoringError(422, "explain_unavailable", refusal)


def load_from_store(tag: str, prior_fake: float | None = None) -> tuple[Predictor, str]:
    """The model promote saved into the BentoML model store (``$BENTOML_HOME``) and its store tag,
    shifted to ``prior_fake`` (:func:`predictor.load_predictor`)."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound as exc:
        raise FileNotFoundError(
            f"BentoML model {tag!r} not found in the model store (run `dvc repro` to "
            f"promote one, or point to a model folder)"
        ) from exc
    return load_predictor(model.path, prior_fake), str(model.tag)


# --------------------------------------------------------------------------- scoring


class Scorer:
    """Scores files with a model reached through ``score_fn`` (in-process or a BentoML service)."""

    def __init__(
        self,
        params: Params,
        info: ModelInfo,
        score_fn: ScoreFn,
        *,
        explain_fn: ExplainFn | None = None,
        recorder: Recorder | None = None,
        detector: Any | None = None,
    ):
        self.params, self.info, self.score_fn, self.explain_fn = params, info, score_fn, explain_fn
        self.recorder = recorder
        framed = params.model_copy(update={"extract": framed_as_trained(params.extract, info.crop_margin)})
        self.finder = UploadFaces(framed, detector)

    @property
    def detector(self):
        return self.finder.detector

    def warm_up(self) -> None:
        self.finder.warm_up()

    # ----- faces → scores

    def _score_faces(self, faces: list[FaceCrop], timer: Timer) -> None:
        if not faces:
            return
        size = self.info.input_size
        batch = np.stack(
            [
                f.crop if f.crop.shape[0] == size else cv2.resize(f.crop, (size, size), interpolation=cv2.INTER_AREA)
                for f in faces
            ]
        )
        t = time.perf_counter()
        probs, emb = self.score_fn(batch)
        timer.add("model_s", time.perf_counter() - t)
        if len(probs) != len(faces):
            raise RuntimeError(f"model returned {len(probs)} scores for {len(faces)} faces")
        for f, p, e in zip(faces, probs, emb if len(emb) else [None] * len(faces), strict=True):
            f.probability, f.embedding = float(p), e
        ood = self.info.ood
        if ood is not None and len(emb):
            for f, d in zip(faces, ood.score(emb), strict=True):
                f.ood_score = float(d)

    def _check_explainable(self) -> None:
        if self.explain_fn is None:
            raise ScoringError(422, "explain_unavailable", "this scorer has no Grad-CAM explainer")
        refusal = explain_refusal(self.info)
        if refusal is not None:  # before any work: the model service would only answer a 500
            raise refusal

    def _explain(self, faces: list[FaceCrop], out: dict[int, str], timer: Timer) -> None:
        self._check_explainable()
        chosen = sorted(range(len(faces)), key=lambda i: -faces[i].box[2] * faces[i].box[3])
        chosen = chosen[: self.params.serve.explain_max_faces]
        if not chosen:
            return
        t = time.perf_counter()
        pngs = self.explain_fn(np.stack([faces[i].crop for i in chosen]))
        timer.add("explain_s", time.perf_counter() - t)
        for i, png in zip(chosen, pngs, strict=True):
            out[i] = base64.b64encode(png).decode("ascii")

    def _result(self, facts: Answered, timer: Timer, endpoint: str) -> ScoreResult:
        """The answer (:func:`answers.answer`), once the recorder has this file's faces."""
        if self.recorder is not None:
            self.recorder.record(
                self.info,
                request_id=facts.request_id,
                endpoint=endpoint,
                file=facts.name,
                media=facts.media,
                probability=facts.probability,
                faces=facts.faces,
            )
        return answer(facts, self.info, timer.done(), self.params.serve.unfamiliar_share)

    # ----- public entry points

    def _deadline(self, client_gone: ClientGone | None = None) -> Deadline:
        serve = self.params.serve
        return Deadline(serve.deadline_s, client_gone=client_gone, poll_s=serve.disconnect_poll_s)

    def _budget(self) -> PixelBudget:
        return PixelBudget(self.params.serve.max_request_pixels)

    def score_video(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_video",
        client_gone: ClientGone | None = None,
    ) -> ScoreResult:
        """A clip's label and scores; ``client_gone`` (the service's probe) stops the work early."""
        path = Path(path)
        name = clean_name(name or path.name)  # the client's name: data, never terminal control
        timer = Timer()
        try:
            if explain:
                self._check_explainable()
            deadline = self._deadline(client_gone)

            def score(crops: list[FaceCrop]) -> None:  # each detection batch, while the clip goes on decoding
                deadline.check(name, "waiting to score faces")
                self._score_faces(crops, timer)

            media, frames, faces = self.finder.video_faces(path, name, timer, deadline, score)
        except ScoringError as exc:
            raise exc.without_path(path, name) from exc
        people = self._people(faces)
        prob = clip_probability(people) if people else None
        heatmaps: dict[int, str] = {}
        if explain and faces:
            deadline.check(name, "waiting to explain")
            self._explain(faces, heatmaps, timer)
        facts = Answered("video", name, media, frames, faces, people, prob, request_id or uuid.uuid4().hex, heatmaps)
        return self._result(facts, timer, endpoint)

    def _people(self, faces: list[FaceCrop]) -> list[PersonScore]:
        """Each person's (face track's) score with evaluate's clip rule (:func:`aggregate.people_scores`)."""
        if not faces:
            return []
        ev = self.params.evaluate
        return people_scores(
            np.array([f.probability for f in faces]),
            np.array([f.person for f in faces]),
            np.array([f.frame for f in faces]),
            ev.clip,
            ev.video_aggregation,
            ev.person_min_share,
        )

    def score_image(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        crop: bool = False,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_image",
        client_gone: ClientGone | None = None,
    ) -> ScoreResult:
        return self.score_images(
            [path],
            [name] if name else None,
            crop=crop,
            explain=explain,
            request_id=request_id,
            endpoint=endpoint,
            raise_errors=True,
            client_gone=client_gone,
        )[0]  # raise_errors: a ScoreResult

    def score_images(
        self,
        paths: Sequence[str | Path],
        names: Sequence[str] | None = None,
        *,
        crop: bool = False,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_images",
        raise_errors: bool = False,
        client_gone: ClientGone | None = None,
    ) -> list[ScoreResult | ScoreError]:
        """Several images, all faces in ONE model call, within one deadline and pixel budget; a bad
        image gets a :class:`ScoreError` entry unless ``raise_errors``."""
        request_id = request_id or uuid.uuid4().hex
        names = [clean_name(n) for n in (names or [Path(p).name for p in paths])]
        if explain:
            self._check_explainable()
        deadline, budget = self._deadline(client_gone), self._budget()
        timers: list[Timer] = []
        loaded: list[tuple[MediaInfo, list[FaceCrop]] | ScoringError] = []
        for path, name in zip(paths, names, strict=True):
            timer = Timer()
            try:
                media, faces = self.finder.image_faces(Path(path), name, crop, timer, deadline, budget)
            except ScoringError as exc:
                if raise_errors or exc.status in STOPS_THE_REQUEST:
                    raise exc.without_path(Path(path), name) from exc
                loaded.append(exc.without_path(Path(path), name))
            else:
                loaded.append((media, faces))
            timers.append(timer)
        all_faces = [f for item in loaded if not isinstance(item, ScoringError) for f in item[1]]
        deadline.check(f"{len(names)} images", "waiting to score faces")
        shared = Timer()
        self._score_faces(all_faces, shared)
        out: list[ScoreResult | ScoreError] = []
        for name, timer, item in zip(names, timers, loaded, strict=True):
            if isinstance(item, ScoringError):
                out.append(ScoreError(file=name, **item.to_dict(), status=item.status))
                continue
            media, faces = item
            for k, v in shared.parts.items():
                timer.add(k, v)
            heatmaps: dict[int, str] = {}
            if explain and faces:
                self._explain(faces, heatmaps, timer)
            prob = max(f.probability for f in faces) if faces else None
            people = [PersonScore(f.face, f.probability, 1, True) for f in faces]  # in a still, each face is a person
            facts = Answered("image", name, media, [None], faces, people, prob, request_id, heatmaps)
            out.append(self._result(facts, timer, endpoint))
        return out

    def explain_pngs(
        self, path: str | Path, name: str | None = None, *, crop: bool = False, client_gone: ClientGone | None = None
    ) -> list[bytes]:
        """Grad-CAM overlays (PNG bytes) of an image's faces, largest first."""
        path = Path(path)
        name = clean_name(name or path.name)  # the client's name: data, never terminal control
        try:
            self._check_explainable()
            faces = self.finder.image_faces(path, name, crop, Timer(), self._deadline(client_gone), self._budget())[1]
        except ScoringError as exc:
            raise exc.without_path(path, name) from exc
        if not faces:
            raise ScoringError(422, "no_face", f"{name}: no face found to explain")
        heatmaps: dict[int, str] = {}
        self._explain(faces, heatmaps, Timer())
        order = sorted(heatmaps, key=lambda i: -faces[i].box[2] * faces[i].box[3])
        return [base64.b64decode(heatmaps[i]) for i in order]


def local_scorer(
    params: Params, model: Predictor, recorder: Recorder | None = None, bento_tag: str | None = None
) -> Scorer:
    """A scorer over an in-process model (the CLI, benchmarks, tests)."""

    def explain(crops: np.ndarray) -> list[bytes]:
        try:
            return model.explain(crops)
        except ExplainUnavailableError as exc:
            raise ScoringError(422, "explain_unavailable", str(exc)) from exc

    info = model_info(model, bento_tag)
    return Scorer(params, info, model.score, explain_fn=explain, recorder=recorder)
