"""What a served request leaves behind: one request-log record per scored face (read by drift
monitoring) and, when it needs a person, its face crops in the review queue. The caller (the
service, the CLI, a test) builds one :class:`Recorder` and hands it to the scorer, which only says
what it scored."""

from __future__ import annotations

from collections.abc import Sequence

from deepfake_detect.config import Params
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.media.images import crop_stats
from deepfake_detect.scoring.answers import too_compressed, unfamiliar, verdict
from deepfake_detect.scoring.requestlog import RequestLog, RequestLogRecord
from deepfake_detect.scoring.result import MediaInfo, ModelInfo
from deepfake_detect.scoring.review import ReviewQueue


def face_record(
    f: FaceCrop, info: ModelInfo, request_id: str, endpoint: str, file: str, media: MediaInfo
) -> RequestLogRecord:
    """The request-log record of one scored face (``media``: the file it came from)."""
    stats = crop_stats(f.crop)
    return RequestLogRecord(
        request_id=request_id,
        endpoint=endpoint,
        file=file,
        frame=f.frame,
        face=f.face,
        model_tag=info.tag,
        probability=round(f.probability, 6),
        label=verdict(f.probability, info.threshold),
        confidence=f.confidence,
        face_size=int(min(f.box[2], f.box[3])),
        width=stats["width"],
        height=stats["height"],
        brightness=round(stats["brightness"], 4),
        contrast=round(stats["contrast"], 4),
        sharpness=round(stats["sharpness"], 4),
        saturation=round(stats["saturation"], 4),
        embedding=None if f.embedding is None else [round(float(x), 5) for x in f.embedding],
        ood_score=None if f.ood_score is None else round(f.ood_score, 4),
        unfamiliar=unfamiliar(f, info),
        bits_per_pixel=media.bits_per_pixel,
        too_compressed=too_compressed(media, info),
    )


class Recorder:
    """Writes scored requests to ``request_log`` and offers them to the review queue
    (``serve.review.keep_crops``, which config only allows with the request log on)."""

    def __init__(self, params: Params, request_log: RequestLog | None):
        self.request_log = request_log
        self.review = ReviewQueue(params) if params.serve.review.keep_crops else None

    def record(
        self,
        info: ModelInfo,
        *,
        request_id: str,
        endpoint: str,
        file: str,
        media: MediaInfo,
        probability: float | None,
        faces: Sequence[FaceCrop],
    ) -> None:
        """One file of one request: its faces' records, then the review queue's offer."""
        if not faces:
            return
        if self.request_log is not None:
            self.request_log.write([face_record(f, info, request_id, endpoint, file, media) for f in faces])
        if self.review is not None:
            self.review.consider(
                request_id=request_id,
                endpoint=endpoint,
                file=file,
                model_tag=info.tag,
                threshold=info.threshold,
                score=probability,
                faces=faces,
            )
