"""What every list endpoint shares: columns, sort, filter by name and pages.

RabbitMQ's rules: ``columns=a,b.c`` keeps those fields (a dotted name keeps a
field of a nested object); ``sort`` orders by a (dotted) field, numbers and
strings each in their natural order, ``sort_reverse=true`` turns it round;
with ``page`` the answer is the paged envelope, filtered by ``name``
(a case-insensitive substring, or with ``use_regex=true`` a regular
expression) and cut into pages of ``page_size`` (100 by default, 500 at most).
"""

from __future__ import annotations

import math
import re

from amqpd.management.errors import HTTPError, bad_request
from amqpd.management.request import Request

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100


def render(
    request: Request, items: list[dict], default_sort: tuple[str, ...] = ("name",)
) -> object:
    """The list as RabbitMQ answers it for this request's query."""
    query = request.query
    items = _sorted(items, query.get("sort"), query.get("sort_reverse") == "true", default_sort)
    if "page" in query:
        envelope = _page(items, query)
        envelope["items"] = _columns(envelope["items"], query.get("columns"))
        return envelope
    return _columns(items, query.get("columns"))


def _sort_key(value: object) -> tuple:
    # Numbers before strings before the rest, as Erlang orders terms.
    if isinstance(value, bool):
        return (2, str(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, str(value))


def _field(item: dict, dotted: str) -> object:
    value: object = item
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _sorted(items: list[dict], sort: str | None, reverse: bool, default: tuple[str, ...]) -> list:
    keys = [sort] if sort else list(default)
    ordered = sorted(items, key=lambda item: [_sort_key(_field(item, k)) for k in keys])
    return list(reversed(ordered)) if reverse else ordered


def _columns(items: list[dict], columns: str | None) -> list[dict]:
    if not columns:
        return items
    wanted = [c for c in columns.split(",") if c]
    return [_pick(item, wanted) for item in items]


def _pick(item: dict, wanted: list[str]) -> dict:
    out: dict = {}
    for dotted in wanted:
        head, _, rest = dotted.partition(".")
        if head not in item:
            continue
        if rest and isinstance(item[head], dict):
            out.setdefault(head, {}).update(_pick(item[head], [rest]))
        else:
            out[head] = item[head]
    return out


def _page(items: list[dict], query: dict[str, str]) -> dict:
    page_text, size_text = query.get("page", ""), query.get("page_size")
    try:
        page = int(page_text)
        size = DEFAULT_PAGE_SIZE if size_text is None else int(size_text)
    except ValueError:
        raise bad_request("Pagination parameters are invalid") from None
    if page < 1 or size < 1 or size > MAX_PAGE_SIZE:
        shown = size_text if size_text is not None else "undefined"
        raise HTTPError(
            400,
            "invalid_pagination_parameters",
            f"Invalid pagination parameters: page number {page}, page size {shown}",
        )
    filtered = _filter(items, query.get("name", ""), query.get("use_regex") == "true")
    page_count = max(1, math.ceil(len(filtered) / size))
    if page > page_count and filtered:
        raise HTTPError(
            400,
            "page_out_of_range",
            f"Page out of range, page: {page} page size: {size}, len: {len(filtered)}",
        )
    chunk = filtered[(page - 1) * size : page * size]
    return {
        "filtered_count": len(filtered),
        "item_count": len(chunk),
        "items": chunk,
        "page": page,
        "page_count": page_count,
        "page_size": size,
        "total_count": len(items),
    }


def _filter(items: list[dict], name: str, use_regex: bool) -> list[dict]:
    if not name:
        return items
    if use_regex:
        try:
            pattern = re.compile(name, re.IGNORECASE)
        except re.error:
            raise bad_request("Pagination parameters are invalid") from None
        return [i for i in items if pattern.search(str(i.get("name", "")))]
    needle = name.lower()
    return [i for i in items if needle in str(i.get("name", "")).lower()]
