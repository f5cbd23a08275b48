"""The publisher models the emulator serves, and their ``PublisherModel`` resources.

``vertexai.vision_models.MultiModalEmbeddingModel.from_pretrained`` first GETs
``/v1/publishers/google/models/multimodalembedding@001`` and refuses the model unless the answer
has ``name``, ``publisherModelTemplate`` and the vision-embedding ``instanceSchemaUri``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, ModelLimits
from .errors import GoogleAPIException

__all__ = ["ALIASES", "MODELS", "PublisherModel", "find_model"]

Method = Literal["predict", "embedContent"]

_SCHEMA_ROOT = "gs://google-cloud-aiplatform/schema/predict"


@dataclass(frozen=True)
class PublisherModel:
    """One model: its id, its input limits and the one method that serves it."""

    model_id: str
    limits: ModelLimits
    method: Method
    schema: str | None = None  # the predict schema family, for ``predictSchemata``
    launch_stage: str = "GA"

    def resource(self) -> dict[str, Any]:
        """The PublisherModel JSON the model-garden lookup returns."""
        version = self.model_id.split("@", 1)[1] if "@" in self.model_id else "default"
        out: dict[str, Any] = {
            "name": f"publishers/google/models/{self.model_id}",
            "versionId": version,
            "openSourceCategory": "PROPRIETARY",
            "launchStage": self.launch_stage,
            "publisherModelTemplate": (
                f"projects/{{user-project}}/locations/{{location}}/publishers/google/models/{self.model_id}"
            ),
        }
        if self.schema:
            out["predictSchemata"] = {
                "instanceSchemaUri": f"{_SCHEMA_ROOT}/instance/{self.schema}.yaml",
                "parametersSchemaUri": f"{_SCHEMA_ROOT}/params/{self.schema}.yaml",
                "predictionSchemaUri": f"{_SCHEMA_ROOT}/prediction/{self.schema}.yaml",
            }
        return out


MODELS: dict[str, PublisherModel] = {
    m.model_id: m
    for m in (
        PublisherModel("multimodalembedding@001", MULTIMODAL_EMBEDDING_001, "predict", "vision_embedding_model_1.0.0"),
        PublisherModel("gemini-embedding-2", GEMINI_EMBEDDING_2, "embedContent"),
    )
}

# Other names the service answers to for the same model.
ALIASES = {
    "multimodalembedding": "multimodalembedding@001",
    "gemini-embedding-2-preview": "gemini-embedding-2",
}


def find_model(model_id: str, *, path: str, method: Method | None = None) -> PublisherModel:
    """The model for ``model_id``; 404 if unknown, 400 if it is not served by ``method``."""
    model = MODELS.get(ALIASES.get(model_id, model_id))
    if model is None:
        raise GoogleAPIException(
            404,
            f"Publisher Model `{path}` not found. The vertex-mm emulator serves: {', '.join(MODELS)}.",
        )
    if method is not None and method != model.method:
        raise GoogleAPIException(
            400,
            f"{model.model_id} is served by :{model.method}, not :{method}.",
        )
    return model
