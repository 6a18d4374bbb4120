"""Request and response bodies on the wire (pydantic). Numbers are plain JSON; images are base64 PNG."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# Strict: "1.5" is not a number here, and neither are NaN or Infinity.
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _whole_number(value: Any) -> Any:
    """3.0 is the integer 3 (as JSON Schema counts integers); 3.5 stays a float and is refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Label = Annotated[
    Annotated[int, Field(strict=True)] | Annotated[str, Field(min_length=1, max_length=64)],
    BeforeValidator(_whole_number),
]
ModelName = Annotated[str, Field(min_length=1, max_length=64, examples=["cvae"])]
# an uploaded image as base64 text (OpenAPI's "byte"); any format Pillow reads, converted to the model's size
Base64Image = Annotated[str, Field(json_schema_extra={"format": "byte", "contentMediaType": "image/*"})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncodeJSON(_Strict):
    model: ModelName | None = Field(None, description="model name; the default model when absent")
    images: list[Base64Image] = Field(
        min_length=1, description="base64 PNG/JPEG/..., data: URIs allowed; converted to the model's size and mode",
        examples=[["iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAEElEQVR4nGNgGAWjYBRAAAADHAABjVO6XQAAAABJRU5ErkJggg=="]],
    )  # fmt: skip
    labels: list[Label] | None = Field(None, description="one per image, only for models that encode with labels")


class EncodeResponse(BaseModel):
    model: str
    latents: list[list[float]] = Field(description="one code per image (a VAE's posterior means)")
    log_variances: list[list[float]] | None = Field(None, description="a VAE's posterior log-variances")
    class_probabilities: list[list[float]] | None = Field(
        None, description="models with a categorical head: y's probability per class (or cluster), beside the style"
    )


class ClassifyResponse(BaseModel):
    model: str
    probabilities: list[list[float]] = Field(description="per image, the probability of each class (or cluster)")
    predicted: list[int] = Field(description="per image, the most probable class (or cluster) index")
    names: list[str] = Field(description="per image, that class's name (a clustering model's: `cluster K`)")


class DecodeRequest(_Strict):
    model: ModelName | None = Field(None, description="model name; the default model when absent")
    latents: list[list[Finite]] = Field(min_length=1, examples=[[[0.0] * 16, [0.5] * 16]])
    labels: list[Label] | None = Field(
        None, description="class index or name per latent; required exactly for models that decode with labels",
        examples=[[3, "Sneaker"]],
    )  # fmt: skip


class ImagesResponse(BaseModel):
    model: str
    images: list[str] = Field(description="base64 PNG per image")


class SampleResponse(ImagesResponse):
    latents: list[list[float]]
    labels: list[int] | None = Field(description="the class of each sample; null for unconditional models")
    seed: int = Field(description="pass it back as ?seed= to draw the same images again")


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="the start of the checkpoint file's sha256; answers carry it as X-Model-Version")
    kind: Literal["ae", "vae", "aae"]
    variant: str
    latent_dim: int
    image_shape: list[int]
    conditional: bool = Field(description="whether /sample takes a label (from its default sampler)")
    labels_to_encode: bool
    labels_to_decode: bool
    classes: list[str] | None
    classifies: bool = Field(description="whether POST /classify answers for it (an encoder with a categorical head)")
    categories: int | None = Field(description="how many classes (or clusters) /classify chooses among; null if none")
    prior: dict[str, Any] | None = Field(description="the family's prior: /sample?sampler=prior draws from it")
    sampler: dict[str, Any] | None = Field(
        description="a density fitted to the training codes (one mixture per class) that /sample draws from by "
        "default; null when the prior is the only one"
    )
    device: str
    default: bool
    evaluation: dict[str, Any] = Field(
        description="figures measured at training time on the test split: reconstruction, and per evaluation "
        "classifier (`spaces`) the samples' Fréchet distance, precision/recall/density/coverage and label accuracy"
    )
    anomaly: AnomalyInfo = Field(description="how POST /score scores its images")
    latent_map: bool = Field(description="whether GET /models/NAME/latent-map has the test images' codes (2-D models)")


class ImageScore(BaseModel):
    score: float = Field(description="higher is more anomalous: the model's calibrated combination of its signals, "
                         "or without calibration the reconstruction error")  # fmt: skip
    p_value: float | None = Field(description="the share of held-out normal images scoring at least as high; "
                                  "null without calibration")  # fmt: skip
    is_anomaly: bool | None = Field(description="p_value below the model's alpha; null without calibration")
    reconstruction: float = Field(description="mean squared error per pixel, pixels in [0, 1]")
    code_nll: float | None = Field(description="the code's negative log-density under the model's density (nats); "
                                   "null where it has no closed form")  # fmt: skip
    negative_elbo: float | None = Field(description="VAEs: the negative ELBO in nats")
    map: list[list[list[float]]] | None = Field(None, description="with ?maps=true: squared error per pixel, (C, H, W)")


class ScoreResponse(BaseModel):
    model: str
    signals: list[str] = Field(description="the signals the score combines")
    alpha: float | None
    scores: list[ImageScore]


class AnomalyInfo(BaseModel):
    calibrated: bool
    signals: list[str] = Field(description="what the score combines, each standardised on held-out normal images")
    combine: Literal["sum", "max"] | None = Field(
        description="how: their sum, or their maximum (the most alarmed signal); null without calibration"
    )
    alpha: float | None = Field(description="p-values below it are flagged as anomalies")
    calibration_size: int | None = Field(description="held-out normal images the p-values count against")
    calibrated_on: str | None
    why_not: str | None = Field(description="without calibration: why, and how to calibrate")


class LatentMap(BaseModel):
    model: str
    classes: list[str] | None = Field(description="class names, indexed by the labels below")
    codes: list[list[float]] = Field(description="the code of each test image (a VAE's posterior mean)")
    labels: list[int] = Field(description="the class of each test image")
    prior_codes: list[list[float]] = Field(
        description="draws from what /sample draws from (the sampler, else the prior)"
    )
    prior_labels: list[int] | None = Field(description="the class of each draw, for densities with components")


class ModelList(BaseModel):
    models: list[ModelInfo]
    failed: dict[str, str] = Field(description="checkpoints that did not load, with the reason")


class ReloadReport(BaseModel):
    """What a rescan of the models folder changed."""

    added: list[str] = Field(default_factory=list, description="new checkpoints now served")
    updated: list[str] = Field(default_factory=list, description="changed checkpoints now served at their new version")
    removed: list[str] = Field(default_factory=list, description="checkpoints gone from the folder, no longer served")
    unchanged: list[str] = Field(default_factory=list, description="the same file as before: left alone")
    failed: dict[str, str] = Field(
        default_factory=dict,
        description="checkpoints that did not load, with the reason; a previous version keeps serving",
    )


class Readiness(BaseModel):
    status: Literal["ready", "not ready", "shutting down"]
    models: list[str]
    failed: dict[str, str]
    reason: str | None = None  # why nothing is served (no models folder, or no checkpoint in it)


class Problem(BaseModel):
    """RFC 9457 problem details: every error has this shape."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
