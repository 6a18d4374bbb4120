"""pydantic's validation errors in words, one way for every place that reports them."""

from __future__ import annotations

import pydantic


def in_words(error: pydantic.ValidationError, limit: int = 5) -> str:
    """The first `limit` faults as "where: what", joined by "; " (the whole input is called "body")."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()[:limit])
