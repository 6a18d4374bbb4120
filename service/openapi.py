"""The OpenAPI document says what validation accepts, model by model.

FastAPI's document is generic: `model` is any string, a latent any list of numbers. What a request
must carry depends on the model it names (how many numbers a latent has, whether labels are needed
and which), so the document served at /openapi.json is FastAPI's, with the served models filled in:
their names, each model's /decode, /encode and /classify bodies as branches of a `oneOf`, the classes a label
may name, the models that classify. It
is rebuilt when a reload changes what is served. Generated clients and schema-driven testers then
send what is accepted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.catalog import Catalog
from service.served import ServedModel


def served_openapi(app: FastAPI, catalog: Catalog) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi`: FastAPI's document (generated once) with the served models in it."""
    generic = app.openapi  # FastAPI's own, which caches its document
    built: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        key = tuple((served.name, served.version) for served in catalog.served.values())
        if key not in built:
            built.clear()
            built[key] = _with_models(copy.deepcopy(generic()), catalog)
        return built[key]

    return openapi


def _with_models(document: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    served = list(catalog.served.values())
    if not served:
        return document
    names = [model.name for model in served]
    paths = document["paths"]
    for path, name_values in [
        ("/models/{name}", names),
        ("/models/{name}/latent-map", [m.name for m in served if m.checkpoint.latent_map is not None] or names),
    ]:
        _parameter(paths[path]["get"], "name")["schema"] = {"type": "string", "enum": name_values}
    for path, method in [("/sample", "get"), ("/encode", "post")]:
        _parameter(paths[path][method], "model")["schema"] = {"type": "string", "enum": names}
    sample = paths["/sample"]["get"]
    _parameter(sample, "n")["schema"]["maximum"] = catalog.settings.max_items
    labels = sorted({label for model in served if model.by_label(None) for label in _label_values(model)})
    if labels:
        _parameter(sample, "label")["schema"] = {"type": "string", "enum": labels}
    default = catalog.default_name()
    # /classify answers only for models with a categorical head: the rest get a 422, and so does a request that
    # names no model when the default has none (its `model` is then required)
    classifying = [model for model in served if model.model.classifies]
    if classifying:
        model_parameter = _parameter(paths["/classify"]["post"], "model")
        model_parameter["schema"] = {"type": "string", "enum": [model.name for model in classifying]}
        model_parameter["required"] = default is None or not catalog.served[default].model.classifies
    for path, body, models in [
        ("/decode", _decode_body, served), ("/encode", _encode_body, served), ("/classify", _encode_body, classifying),
    ]:  # fmt: skip
        if not models:
            continue
        branches = [_branch(model, body(model, catalog.settings.max_items), named=True) for model in models]
        if default is not None and catalog.served[default] in models:
            branches.append(
                _branch(catalog.served[default], body(catalog.served[default], catalog.settings.max_items), named=False)
            )
        paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"] = {"oneOf": branches}
    return document


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(parameter for parameter in operation["parameters"] if parameter["name"] == name)


def _label_values(model: ServedModel) -> list[str]:
    classes = model.checkpoint.class_names or []
    return [*classes, *(str(index) for index in range(model.model.config.num_classes))]


def _labels(model: ServedModel) -> dict[str, Any]:
    classes = model.checkpoint.class_names or []
    index = {"type": "integer", "minimum": 0, "maximum": model.model.config.num_classes - 1}
    return {
        "type": "array", "minItems": 1, "description": "one per item: a class index or name",
        "items": {"anyOf": [index, {"type": "string", "enum": classes}]} if classes else index,
    }  # fmt: skip


def _decode_body(model: ServedModel, max_items: int) -> dict[str, Any]:
    dim = model.model.config.latent_dim
    latents = {
        "type": "array", "minItems": 1, "maxItems": max_items,
        "items": {"type": "array", "items": {"type": "number"}, "minItems": dim, "maxItems": dim},
    }  # fmt: skip
    return {"latents": latents, **({"labels": _labels(model)} if model.model.takes_labels_to_decode else {})}


def _encode_body(model: ServedModel, max_items: int) -> dict[str, Any]:
    image = {"type": "string", "format": "byte", "contentMediaType": "image/*"}
    images = {"type": "array", "minItems": 1, "maxItems": max_items, "items": image}
    return {"images": images, **({"labels": _labels(model)} if model.model.takes_labels_to_encode else {})}


def _branch(model: ServedModel, properties: dict[str, Any], *, named: bool) -> dict[str, Any]:
    """One model's body: its `properties`, all required; `named=False`: the default model's, without `model`."""
    required = list(properties)
    if named:
        properties = {"model": {"const": model.name}, **properties}
        required.append("model")
    title = model.name if named else f"{model.name} (the default model)"
    return {
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
