"""Walking a list endpoint page by page (NOTES.md 2.1-2.2).

``paging.nextPage`` is followed verbatim as base URL + nextPage. A missing ``paging``, an empty
one or a null ``nextPage`` ends the chain. A chain that offers the same link twice, or serves the
same page twice, is a server bug that would loop forever: it is refused, as is a chain longer
than the page cap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from yarl import URL

from gradesync.errors import MalformedResponseError
from gradesync.learn.endpoints import Endpoint, next_page_url

M = TypeVar("M", bound=BaseModel)


def _malformed(endpoint: Endpoint, problem: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"{endpoint}: {problem}", method=endpoint.method, endpoint=endpoint.template
    )


def split_page(endpoint: Endpoint, body: Any) -> tuple[list[Any], str | None]:
    """The ``results`` of one page and its ``nextPage`` link (None on the last page)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise _malformed(endpoint, "the page has no results list")
    paging = body.get("paging")
    if paging is None:
        return body["results"], None
    if not isinstance(paging, dict):
        raise _malformed(endpoint, "paging is not an object")
    next_page = paging.get("nextPage")
    if next_page is None or next_page == "":
        return body["results"], None
    if not isinstance(next_page, str):
        raise _malformed(endpoint, "paging.nextPage is not a string")
    return body["results"], next_page


def page_digest(results: list[Any]) -> bytes:
    """A fingerprint of a page's rows, to notice a server that serves one page over and over."""
    blob = json.dumps(results, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).digest()


def parse_items(endpoint: Endpoint, model: type[M], items: list[Any]) -> list[M]:
    """Every row of a page as ``model``; one row that does not fit fails the whole call."""
    parsed: list[M] = []
    for index, item in enumerate(items):
        parsed.append(parse_item(endpoint, model, item, where=f"results[{index}]"))
    return parsed


def parse_item(endpoint: Endpoint, model: type[M], item: Any, *, where: str = "the body") -> M:
    """One object as ``model``; the error names the field, never its value (it may be a grade)."""
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the object)"
        raise _malformed(
            endpoint, f"{where} does not fit {model.__name__}: {field}: {first['msg']}"
        ) from None


async def walk(
    fetch: Callable[[URL], Awaitable[Any]],
    first: URL,
    *,
    endpoint: Endpoint,
    base_url: str,
    max_pages: int,
) -> AsyncIterator[list[Any]]:
    """Yield the raw ``results`` of each page of one chain, following ``nextPage``."""
    url = first
    links: set[str] = set()
    pages: set[bytes] = set()
    for _ in range(max_pages):
        results, next_page = split_page(endpoint, await fetch(url))
        if results:
            digest = page_digest(results)
            if digest in pages:
                raise _malformed(endpoint, "the server served the same page twice")
            pages.add(digest)
        yield results
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
