"""The typed contracts between components: each has exactly one definition, in the module of its concern.
Import a contract from its module (``from deepfake_detect.contracts.drift import DriftResult``), so a
stage depends only on the contracts it reads.

* :mod:`.base`         :class:`~.base.Contract` (reads and writes its JSON file, naming the file and
                       field at fault), :class:`~.base.ContractError`
* :mod:`.model`        :class:`~.model.ModelRecord`, ``record.json`` of a model folder (train writes it,
                       promote completes it); :class:`~.model.BentoMetadata`, a promoted model's store entry
* :mod:`.calibration`  :class:`~.calibration.Calibration`, the calibration map in the record and the metrics
* :mod:`.metrics`      :class:`~.metrics.ModelMetrics`, ``metrics/<model>.json``: what evaluate found (gate,
                       promote and report read it)
* :mod:`.unfamiliar`   :class:`~.unfamiliar.OodFit` and :class:`~.unfamiliar.CompressionFit`, the "unlike
                       the training data" tests fitted at promotion (``record.json``)
* :mod:`.decisions`    :class:`~.decisions.GateDecision` (the retrain gate),
                       :class:`~.decisions.PromotionDecision` (``promote.decision``),
                       :class:`~.decisions.RollbackResult`
* :mod:`.drift`        :class:`~.drift.DriftResult`, what ``drift.compare`` decides (``drift-<time>.json``,
                       ``latest.json``), with :class:`~.drift.UnfamiliarTraffic`
* :mod:`.review`       :class:`~.review.ReviewItem`, one kept request of the review queue
* :mod:`.live`         :class:`~.live.LiveResult` (``deepfake eval live``: the served versions on the
                       reviewers' labels) and :class:`~.live.ShadowResult` (``deepfake shadow``)
* the manifest row is :class:`deepfake_detect.data.manifest.ManifestRow`, beside its reader and writer
* the score results (HTTP answers, ``deepfake score --json``) are in :mod:`deepfake_detect.scoring.result`

Every reader and writer goes through these models: a missing or misspelt field fails where the
file is read, naming the field, instead of a guessed default somewhere downstream. A field that
only some records carry is ``X | None`` and says when it is absent.
"""
