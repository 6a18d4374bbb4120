"""Resolving what a request names: the model (from the loaded set only), its labels, item counts."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from service.catalog import Catalog, ServedModel
from service.errors import ProblemError
from service.settings import Settings


def resolve_model(request: Request, catalog: Catalog, name: str | None) -> ServedModel:
    name = name or catalog.default_name()
    if name is None or name not in catalog.served:
        known = ", ".join(catalog.served) or "none"
        reason = f" (it failed to load: {catalog.failed[name]})" if name in catalog.failed else ""
        raise ProblemError(404, f"unknown model {name!r}{reason}; served models: {known}")
    request.state.model = name  # for the metrics' model label
    return catalog.served[name]


def resolve_labels(
    served: ServedModel, labels: list[Any] | None, count: int, *, needed: bool, what: str
) -> list[int] | None:
    if not needed:
        if labels is not None:
            raise ProblemError(422, f"model {served.name} takes no labels to {what}; leave labels out")
        return None
    if labels is None:
        raise ProblemError(422, f"model {served.name} needs one label per item to {what} (index or class name)")
    if len(labels) != count:
        raise ProblemError(422, f"got {len(labels)} labels for {count} items; give exactly one per item")
    try:
        return [served.class_index(label) for label in labels]
    except ValueError as error:
        raise ProblemError(422, str(error)) from error


def check_count(count: int, settings: Settings) -> None:
    if count > settings.max_items:
        raise ProblemError(413, f"{count} items in one request; the limit is {settings.max_items}")
