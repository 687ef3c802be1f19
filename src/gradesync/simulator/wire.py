"""Learn's wire conventions: RestException bodies, row-based paging, ``fields`` selection.

Paging follows docs/learn-api.md section 2: ``{results, paging: {nextPage}}``, where ``nextPage`` is
the request's own host-relative path and query with ``offset`` advanced, and ``paging`` is omitted
on the last page. A ``limit`` above an endpoint's maximum is refused with a 400 that names the
maximum (Learn's behaviour here is an open question; refusing makes a client that asks for too
much fail loudly in tests rather than silently get smaller pages).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

DEFAULT_LIMIT = 100

T = TypeVar("T")

# JSON without the spaces json.dumps puts after separators; ASCII, so str.encode() is cheap.
_compact = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class ApiError(Exception):
    """A Learn error answer: the status and the RestException ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def rest_error(status: int, message: str) -> web.Response:
    """A RestException body as Learn sends it: numeric status, 32-hex ``extraInfo``."""
    body = {"status": status, "message": message, "extraInfo": uuid.uuid4().hex}
    return web.json_response(body, status=status)


def int_param(request: web.Request, name: str) -> int | None:
    """An integer query parameter, or None when absent; 400 when it is not an integer."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: {raw}") from None


def bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, f"Invalid value for {name}: {raw}")
    return raw.lower() == "true"


def field_tree(spec: str) -> dict[str, Any]:
    """``"id,score.possible"`` as ``{"id": True, "score": {"possible": True}}``."""
    tree: dict[str, Any] = {}
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        node = tree
        *parents, leaf = name.split(".")
        for part in parents:
            child = node.get(part)
            if child is True:
                break
            node = node.setdefault(part, {})
        else:
            node[leaf] = True
    return tree


def _select(obj: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        wanted = tree.get(key)
        if wanted is True:
            out[key] = value
        elif wanted and isinstance(value, dict):
            picked = _select(value, wanted)
            if picked:
                out[key] = picked
    return out


class Fields:
    """A ``fields`` parameter; unlisted properties are omitted, dotted names reach into nested
    objects (``score.possible``, ``user.externalId``). None or empty selects everything."""

    def __init__(self, spec: str | None) -> None:
        self._tree = field_tree(spec) if spec else None

    @classmethod
    def of(cls, request: web.Request) -> Fields:
        return cls(request.query.get("fields"))

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj if self._tree is None else _select(obj, self._tree)


def json_response(body: Any) -> web.Response:
    """A 200 with ``body`` as compact JSON."""
    return json_bytes(_compact(body).encode())


def json_bytes(encoded: bytes) -> web.Response:
    """A 200 whose body is JSON already encoded (the same headers as ``json_response``)."""
    return web.Response(body=encoded, content_type="application/json", charset="utf-8")


def next_page(request: web.Request, offset: int) -> str:
    """The request's path and query, verbatim, with ``offset`` set to ``offset``."""
    parts = [p for p in request.rel_url.raw_query_string.split("&") if p]
    replaced = False
    for i, part in enumerate(parts):
        if part.split("=", 1)[0] == "offset":
            parts[i] = f"offset={offset}"
            replaced = True
    if not replaced:
        parts.append(f"offset={offset}")
    return f"{request.rel_url.raw_path}?{'&'.join(parts)}"


def _window(request: web.Request, maximum: int) -> tuple[int, int]:
    """The request's ``offset`` and ``limit`` (default and maximum ``maximum``), checked."""
    offset = int_param(request, "offset") or 0
    limit = int_param(request, "limit")
    if offset < 0:
        raise ApiError(400, "Paging offset cannot be negative")
    if limit is None:
        limit = maximum
    elif limit < 1:
        raise ApiError(400, "Paging limit must be greater than zero")
    elif limit > maximum:
        raise ApiError(400, f"Paging limit cannot exceed {maximum}")
    return offset, limit


def paged(
    request: web.Request, items: list[dict[str, Any]], *, maximum: int = DEFAULT_LIMIT
) -> web.Response:
    """One page of ``items`` under ``offset``/``limit``, each item narrowed by ``fields``."""
    offset, limit = _window(request, maximum)
    fields = Fields.of(request)
    page = [fields.apply(item) for item in items[offset : offset + limit]]
    body: dict[str, Any] = {"results": page}
    if offset + limit < len(items):
        body["paging"] = {"nextPage": next_page(request, offset + limit)}
    return json_response(body)


def paged_rendered(
    request: web.Request,
    items: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    maximum: int = DEFAULT_LIMIT,
) -> web.Response:
    """``paged`` for items kept in another form: only the page's items are rendered."""
    offset, limit = _window(request, maximum)
    fields = Fields.of(request)
    body: dict[str, Any] = {
        "results": [fields.apply(render(item)) for item in items[offset : offset + limit]]
    }
    if offset + limit < len(items):
        body["paging"] = {"nextPage": next_page(request, offset + limit)}
    return json_response(body)


def paged_encoded(
    request: web.Request, items: list[bytes], *, maximum: int = DEFAULT_LIMIT
) -> web.Response:
    """``paged`` for items already narrowed and encoded: the page is joined, not encoded."""
    offset, limit = _window(request, maximum)
    body = b'{"results":[' + b",".join(items[offset : offset + limit]) + b"]"
    if offset + limit < len(items):
        body += b',"paging":{"nextPage":' + _compact(next_page(request, offset + limit)).encode()
        body += b"}"
    return json_bytes(body + b"}")
