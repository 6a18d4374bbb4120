"""A tree of values and arrays kept as one safetensors file: the arrays as tensors, the rest as JSON with
each array replaced by its name. The training state (`training.resume`) and the messages between the API
and its inference process (`service.messages`) are written this way: no pickle, no binary layout of ours.

A tree holds dicts (their keys keep their type: an optimiser's state is keyed by int), lists, tuples (read
back as lists), the NamedTuples named in `kinds` (read back as themselves), numbers, strings, None and arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def split(
    value: Any, is_array: Callable[[Any], bool], kinds: Mapping[str, type] | None = None
) -> tuple[Any, dict[str, Any]]:
    """`value` as JSON-ready data with every array replaced by a name, and the arrays by name."""
    arrays: dict[str, Any] = {}
    kinds = kinds or {}

    def tree(node: Any) -> Any:
        if is_array(node):
            name = str(len(arrays))
            arrays[name] = node
            return {"tensor": name}
        if isinstance(node, tuple) and type(node).__name__ in kinds:
            return {"message": type(node).__name__, "fields": [tree(field) for field in node]}
        if isinstance(node, dict):
            return {"dict": [[key, tree(item)] for key, item in node.items()]}
        if isinstance(node, list | tuple):
            return [tree(item) for item in node]
        return node

    return tree(value), arrays


def join(layout: Any, arrays: Mapping[str, Any], kinds: Mapping[str, type] | None = None) -> Any:
    """The value `split` took apart."""
    kinds = kinds or {}

    def value(node: Any) -> Any:
        if isinstance(node, list):
            return [value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "tensor" in node:
            return arrays[node["tensor"]]
        if "dict" in node:
            return {key: value(item) for key, item in node["dict"]}
        return kinds[node["message"]](*(value(field) for field in node["fields"]))

    return value(layout)
