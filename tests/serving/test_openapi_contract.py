"""The service's OpenAPI page (``/docs``) shows the score result contract field by field: each
scoring API declares :mod:`deepfake_detect.scoring.result`'s models as its response, so a field
added to the model reaches the schema clients read with no second place to edit."""

from __future__ import annotations

import importlib
import json
import os
import sys

import pytest
from serving_kit import write_test_params

from deepfake_detect.scoring.result import BatchScoreResult, ScoreError, ScoreResult


@pytest.fixture(scope="module")
def spec(tmp_path_factory, bentoml_home) -> dict:
    os.environ["DEEPFAKE_PARAMS"] = str(write_test_params(tmp_path_factory.mktemp("openapi")))
    sys.modules.pop("serving.service", None)
    try:
        module = importlib.import_module("serving.service")
        yield json.loads(json.dumps(module.DeepfakeDetector.openapi_spec.asdict()))  # as /docs.json serves it
    finally:
        os.environ.pop("DEEPFAKE_PARAMS", None)
        sys.modules.pop("serving.service", None)


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _response_schema(spec: dict, path: str) -> dict:
    ok = spec["paths"][path]["post"]["responses"]["200"]
    return _resolve(spec, ok["content"]["application/json"]["schema"])


@pytest.mark.parametrize("path", ["/score_video", "/score_image"])
def test_score_apis_declare_score_result(spec, path):
    schema = _response_schema(spec, path)
    assert set(schema["properties"]) == set(ScoreResult.model_fields)
    assert set(schema.get("required", [])) == {n for n, f in ScoreResult.model_fields.items() if f.is_required()}
    label = _resolve(spec, schema["properties"]["label"])
    assert set(label["enum"]) == {"FAKE", "REAL", "NO_FACE"}
    media = _resolve(spec, schema["properties"]["media"])
    assert "channels" in media["properties"] and "fps" in media["properties"]


def test_batch_api_declares_results_or_errors(spec):
    schema = _response_schema(spec, "/score_images")
    assert set(schema["properties"]) == set(BatchScoreResult.model_fields)
    items = schema["properties"]["results"]["items"]
    shapes = [set(_resolve(spec, s)["properties"]) for s in items["anyOf"]]
    assert set(ScoreResult.model_fields) in shapes and set(ScoreError.model_fields) in shapes
