"""Walking a list endpoint page by page (docs/learn-api.md sections 2.1-2.2), and reading bodies
into models.

``paging.nextPage`` is followed verbatim as base URL + nextPage. A missing ``paging``, an empty
one or a null ``nextPage`` ends the chain. A chain that offers the same link twice, or serves the
same page twice, is a server bug that would loop forever: it is refused, as is a chain longer
than the page cap.

A page's bytes go straight into the models through pydantic's JSON parser: one pass, no
intermediate dicts, which is most of the client's CPU per request. When a row does not fit
(docs/contract.md section 6: a NaN score, a string where a number belongs, an unusable id), the
page is read again row by row: the rows that fit are kept and each one that does not becomes a
:class:`~gradesync.models.BadRow`, so one bad row never costs the others. A body that is not a
page at all (invalid JSON, no ``results`` list) still fails as a whole.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails
from yarl import URL

from gradesync.errors import MalformedResponseError
from gradesync.learn.endpoints import Endpoint, next_page_url
from gradesync.models import (
    ID_RULE,
    BadRow,
    LearnModel,
    usable_change_index,
    usable_id,
    valid_unicode,
)

M = TypeVar("M", bound=LearnModel)


class Paging(BaseModel):
    model_config = ConfigDict(extra="ignore")

    next_page: str | None = Field(default=None, alias="nextPage")


class Page(BaseModel, Generic[M]):
    """Learn's list wrapper: ``{"results": [...], "paging": {"nextPage": "..."}}``."""

    model_config = ConfigDict(extra="ignore")

    results: list[M]
    paging: Paging | None = None

    @property
    def next_page(self) -> str | None:
        """The link to the next page; None (or an empty link) on the last one."""
        return (self.paging.next_page if self.paging else None) or None


def _malformed(endpoint: Endpoint, problem: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"{endpoint}: {problem}", method=endpoint.method, endpoint=endpoint.template
    )


def _misfit(
    endpoint: Endpoint, model: type[BaseModel], exc: ValidationError
) -> MalformedResponseError:
    """Name the first thing that does not fit, never its value (it may be a grade)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = first["loc"]
    if first["type"] == "json_invalid":
        return _malformed(endpoint, f"invalid JSON ({first['msg'].removeprefix('Invalid JSON: ')})")
    if not loc:
        return _malformed(endpoint, "the body is not a JSON object")
    if loc == ("results",):
        return _malformed(endpoint, "the page has no results list")
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return _malformed(
        endpoint, f"{where.removeprefix('.')} does not fit {model.__name__}: {first['msg']}"
    )


@functools.cache
def _page_of(model: type[M]) -> type[Page[M]]:
    return Page[model]  # type: ignore[valid-type]


@dataclass
class Rows(Generic[M]):
    """One page read: the rows that fit ``model``, those set aside, the link to the next page."""

    rows: list[M]
    bad: list[BadRow] = field(default_factory=list)
    next_page: str | None = None


def _in_a_row(error: ErrorDetails) -> bool:
    """The error lies inside one row of ``results``, or is JSON that only the row-by-row read
    can tell apart (pydantic refuses a lone surrogate, which Python's parser reads)."""
    loc = error["loc"]
    in_row = len(loc) >= 2 and loc[0] == "results" and isinstance(loc[1], int)
    return in_row or error["type"] == "json_invalid"


def parse_page(endpoint: Endpoint, model: type[M], body: bytes) -> Rows[M]:
    """One page's rows as ``model``; rows that do not fit are set aside one by one."""
    try:
        page = _page_of(model).model_validate_json(body)
    except ValidationError as exc:
        if not all(_in_a_row(e) for e in exc.errors(include_url=False, include_input=False)):
            raise _misfit(endpoint, model, exc) from None
        return _row_by_row(endpoint, model, body, exc)
    return Rows(page.results, [], page.next_page)


def _row_by_row(endpoint: Endpoint, model: type[M], body: bytes, first: ValidationError) -> Rows[M]:
    try:
        data = json.loads(body)  # accepts NaN, Infinity and lone surrogates, to name them
    except ValueError:
        raise _misfit(endpoint, model, first) from None
    if not isinstance(data, dict):
        raise _malformed(endpoint, "the body is not a JSON object")
    if not isinstance(data.get("results"), list):
        raise _malformed(endpoint, "the page has no results list")
    try:
        paging = Paging.model_validate(data.get("paging") or {})
    except ValidationError:
        raise _malformed(endpoint, "paging does not fit: nextPage is not a string") from None
    out: Rows[M] = Rows([], [], paging.next_page or None)
    for item in data["results"]:
        row = parse_row(model, item)
        if isinstance(row, BadRow):
            out.bad.append(row)
        else:
            out.rows.append(row)
    return out


def parse_row(model: type[M], item: Any) -> M | BadRow:
    """One decoded row as ``model``, or the :class:`BadRow` it must be set aside as."""
    if not isinstance(item, dict):
        return BadRow(None, None, "the row is not a JSON object")
    raw_id, raw_index = item.get(model.ROW_ID), item.get("changeIndex")
    known = BadRow(
        raw_id if usable_id(raw_id) else None,
        raw_index if usable_change_index(raw_index) else None,
        "",
    )
    broken = _broken_text(item)
    if broken is not None:
        return known._replace(reason=f"{broken} is not valid Unicode (a lone surrogate)")
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        return known._replace(reason=_reasons(model, exc))


def _broken_text(value: Any, where: str = "") -> str | None:
    """The first place in ``value`` holding a string no UTF-8 file can store, if any."""
    if isinstance(value, str):
        return None if valid_unicode(value) else where or "the row"
    if isinstance(value, dict):
        members = [(f"{where}.{key}".removeprefix("."), key, v) for key, v in value.items()]
    elif isinstance(value, list):
        members = [(f"{where}[{n}]", "", v) for n, v in enumerate(value)]
    else:
        return None
    for name, key, member in members:
        if not valid_unicode(key):
            return where or "the row"
        found = _broken_text(member, name)
        if found is not None:
            return found
    return None


def _reasons(model: type[BaseModel], exc: ValidationError) -> str:
    """What is wrong with a row, field by field: its fields' names and the kind of fault, never
    a value (it may be a grade)."""
    reasons: list[str] = []
    for error in exc.errors(include_url=False):
        reason = _reason(model, error)
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")


def _reason(model: type[BaseModel], error: ErrorDetails) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    where = where.removeprefix(".") or "the row"
    kind, given = error["type"], error.get("input")
    if kind == "string_pattern_mismatch":
        return f"{where} is not a usable id ({ID_RULE})"
    if kind == "string_unicode":
        return f"{where} is not valid Unicode"
    if kind == "missing":
        return f"{where} is missing"
    if kind in ("finite_number", "float_type", "int_type", "int_from_float", "float_parsing"):
        if isinstance(given, str):
            return f"{where} is a string where a number belongs"
        if isinstance(given, bool) or given is None:
            return f"{where} is not a number"
        if isinstance(given, float | int) and kind != "int_type":
            return f"{where} is not a finite number (NaN, Infinity or beyond a double)"
        return f"{where} is not {'an integer' if kind.startswith('int') else 'a number'}"
    if kind == "greater_than_equal":
        return f"{where} is negative"
    if kind == "less_than_equal":
        return f"{where} is beyond a signed 64-bit integer"
    return f"{where} does not fit {model.__name__}: {error['msg']}"


def parse_item(endpoint: Endpoint, model: type[M], item: Any) -> M:
    """One decoded object as ``model``; one that does not fit fails the call."""
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise _misfit(endpoint, model, exc) from None


def page_digest(body: bytes, next_page: str | None) -> bytes:
    """A fingerprint of a page without its link, to notice one page served over and over."""
    if next_page:
        body = body.replace(next_page.encode(), b"")
    return hashlib.blake2b(body, digest_size=16).digest()


async def walk(
    fetch: Callable[[URL], Awaitable[bytes]],
    first: URL,
    model: type[M],
    *,
    endpoint: Endpoint,
    base_url: str,
    max_pages: int,
) -> AsyncIterator[Rows[M]]:
    """Yield each page of one chain read as ``model``, following ``nextPage``."""
    url = first
    links: set[str] = set()
    pages: set[bytes] = set()
    for _ in range(max_pages):
        body = await fetch(url)
        page = parse_page(endpoint, model, body)
        next_page = page.next_page
        if page.rows or page.bad:
            digest = page_digest(body, next_page)
            if digest in pages:
                raise _malformed(endpoint, "the server served the same page twice")
            pages.add(digest)
        yield page
        if next_page is None:
            return
        if next_page in links:
            raise _malformed(endpoint, "paging.nextPage repeats a link already followed")
        links.add(next_page)
        next_url = next_page_url(base_url, next_page)
        if next_url is None:
            raise _malformed(endpoint, "paging.nextPage is not a path under /learn/api/public/")
        url = next_url
    raise _malformed(endpoint, f"more than {max_pages} pages in one chain")
