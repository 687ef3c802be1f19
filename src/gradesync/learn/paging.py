"""Walking a list endpoint page by page (docs/learn-api.md sections 2.1-2.2), and reading bodies
into models.

``paging.nextPage`` is followed verbatim as base URL + nextPage. A missing ``paging``, an empty
one or a null ``nextPage`` ends the chain. A chain that offers the same link twice, or serves the
same page twice, is a server bug that would loop forever: it is refused, as is a chain longer
than the page cap.

A page's bytes go straight into the models through pydantic's JSON parser: one pass, no
intermediate dicts, which is most of the client's CPU per request.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yarl import URL

from gradesync.errors import MalformedResponseError
from gradesync.learn.endpoints import Endpoint, next_page_url

M = TypeVar("M", bound=BaseModel)


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


def parse_page(endpoint: Endpoint, model: type[M], body: bytes) -> Page[M]:
    """One page's rows as ``model``; one row that does not fit fails the whole call."""
    try:
        return _page_of(model).model_validate_json(body)
    except ValidationError as exc:
        raise _misfit(endpoint, model, exc) from None


def parse_item(endpoint: Endpoint, model: type[M], item: Any) -> M:
    """One decoded object as ``model``."""
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
) -> AsyncIterator[list[M]]:
    """Yield the rows of each page of one chain as ``model``, following ``nextPage``."""
    url = first
    links: set[str] = set()
    pages: set[bytes] = set()
    for _ in range(max_pages):
        body = await fetch(url)
        page = parse_page(endpoint, model, body)
        next_page = page.next_page
        if page.results:
            digest = page_digest(body, next_page)
            if digest in pages:
                raise _malformed(endpoint, "the server served the same page twice")
            pages.add(digest)
        yield page.results
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
