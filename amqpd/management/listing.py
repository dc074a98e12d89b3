"""What every list endpoint shares: columns, sort, filter by name and pages.

RabbitMQ's rules: ``columns=a,b.c`` keeps those fields (a dotted name keeps a
field of a nested object); ``sort`` orders by a (dotted) field, numbers and
strings each in their natural order, ``sort_reverse=true`` turns it round;
with ``page`` the answer is the paged envelope, filtered by ``name``
(a case-insensitive substring, or with ``use_regex=true`` a regular
expression) and cut into pages of ``page_size`` (100 by default, 500 at most).

``answer`` does the same for lists that may be long (queues, exchanges,
bindings, clients) without holding the event loop: it takes snapshots, sort
keys and renderings a chunk per turn (``chunked``), sorts and filters on
fields read straight from the snapshots when it can, and renders only the rows
it returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from amqpd.management import chunked
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


def _itself(item: object) -> object:
    return item


@dataclass(frozen=True)
class Rows:
    """A long list to answer: its items (snapshots, or handles that ``picture`` turns
    into snapshots when their turn comes), how a snapshot becomes its JSON object, and
    the fields read from a snapshot without rendering it, each giving the value its
    rendering has (sorting and filtering use them)."""

    items: Iterable[object]
    render: Callable[[object], dict]
    fields: Mapping[str, Callable[[object], object]] = field(default_factory=dict)
    picture: Callable[[object], object] = _itself


def attributes(*names: str, **renamed: str) -> dict[str, Callable[[object], object]]:
    """``Rows.fields`` for fields rendered as the snapshot attribute of the same name
    (``names``) or of another name (``renamed``: field=attribute)."""
    found = {name: attrgetter(name) for name in names}
    found.update((name, attrgetter(attr)) for name, attr in renamed.items())
    return found


async def answer(request: Request, rows: Rows, default_sort: tuple[str, ...] = ("name",)) -> object:
    """``render``'s answer for a long list, a chunk of it per event-loop turn."""
    query = request.query
    keys = [query["sort"]] if query.get("sort") else list(default_sort)
    if "page" not in query and all(k in rows.fields for k in keys):
        return await _streamed(rows, keys, query)
    paged = _page_size(query) if "page" in query else None
    name = query.get("name", "") if paged else ""
    needed = [*keys, "name"] if name else keys
    items = [item async for item in chunked.paced(rows.items)]

    def render(item: object) -> dict:
        return rows.render(rows.picture(item))

    if all(k in rows.fields for k in needed):
        getters = [rows.fields[k] for k in needed]
        columns = await chunked.each(items, lambda item: _get(getters, rows.picture(item)))
    else:  # a field only the rendering has: render everything first
        items = await chunked.each(items, render)
        render, getters = _same, [_DictFields()[k] for k in needed]  # noqa: F811
        columns = await chunked.each(items, lambda item: _get(getters, item))
    order = list(range(len(items)))
    if name:
        order = _filtered(order, [c[-1] for c in columns], name, query.get("use_regex"))
    if keys:
        order = [
            order[n] for n in _order([[columns[i][k] for i in order] for k in range(len(keys))])
        ]
    if query.get("sort_reverse") == "true":
        order.reverse()
    if paged is None:
        return _columns(await chunked.each([items[n] for n in order], render), query.get("columns"))
    chosen, envelope = _cut(order, *paged, len(items))
    rendered = await chunked.each([items[n] for n in chosen], render)
    envelope["items"] = _columns(rendered, query.get("columns"))
    return envelope


def _get(getters: list[Callable], item: object) -> tuple:
    return tuple(get(item) for get in getters)


async def _streamed(rows: Rows, keys: list[str], query: dict[str, str]) -> chunked.Encoded:
    """A whole list, each row rendered and encoded as soon as it is pictured: only its
    sort keys and its bytes outlive the chunk (few objects for the collector to walk)."""
    getters = [rows.fields[k] for k in keys]
    wanted = [c for c in query.get("columns", "").split(",") if c]
    columns: list[list] = [[] for _ in getters]
    encoded = []
    async for item in chunked.paced(rows.items):
        snap = rows.picture(item)
        for column, get in zip(columns, getters, strict=True):
            column.append(get(snap))
        row = rows.render(snap)
        encoded.append(chunked.dumps(_pick(row, wanted) if wanted else row))
    if keys:
        encoded = [encoded[n] for n in _order(columns)]
    if query.get("sort_reverse") == "true":
        encoded.reverse()
    return chunked.Encoded(encoded)


def _same(item: dict) -> dict:
    return item


class _DictFields(dict):
    """Fields of rendered rows: any (dotted) name."""

    def __missing__(self, key: str) -> Callable[[object], object]:
        return lambda item: _field(item, key)


def _filtered(order: list[int], names: list, name: str, use_regex: str | None) -> list[int]:
    """The positions whose name matches, as ``_filter`` matches them."""
    if use_regex == "true":
        try:
            pattern = re.compile(name, re.IGNORECASE)
        except re.error:
            raise bad_request("Pagination parameters are invalid") from None
        return [n for n in order if pattern.search(_text(names[n]))]
    needle = name.lower()
    return [n for n in order if needle in _text(names[n]).lower()]


def _text(name: object) -> str:
    return "" if name is None else str(name)


def _order(columns: list[list]) -> list[int]:
    """The positions of the rows in the order ``_sorted`` gives, by their key columns."""
    comparable = [_comparable(column) for column in columns]
    keys = comparable[0] if len(comparable) == 1 else list(zip(*comparable, strict=True))
    return sorted(range(len(keys)), key=keys.__getitem__)


def _comparable(values: list) -> list:
    """The values as sort keys: themselves when all are strings or all numbers (the order
    of ``_sort_key`` then), else ``_sort_key`` of each."""
    if all(type(v) is str for v in values):
        return values
    if all(type(v) in (int, float) for v in values):
        return values
    return [_sort_key(v) for v in values]


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


def _page_size(query: dict[str, str]) -> tuple[int, int]:
    """(page, page size) of a paged request; 400 when they are not valid."""
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
    return page, size


def _page(items: list[dict], query: dict[str, str]) -> dict:
    page, size = _page_size(query)
    filtered = _filter(items, query.get("name", ""), query.get("use_regex") == "true")
    chunk, envelope = _cut(filtered, page, size, len(items))
    envelope["items"] = chunk
    return envelope


def _cut(filtered: list, page: int, size: int, total: int) -> tuple[list, dict]:
    """Page ``page`` of the filtered rows, and the envelope that goes round it."""
    page_count = max(1, math.ceil(len(filtered) / size))
    if page > page_count and filtered:
        raise HTTPError(
            400,
            "page_out_of_range",
            f"Page out of range, page: {page} page size: {size}, len: {len(filtered)}",
        )
    chunk = filtered[(page - 1) * size : page * size]
    return chunk, {
        "filtered_count": len(filtered),
        "item_count": len(chunk),
        "items": None,  # filled in by the caller, keeping RabbitMQ's key order
        "page": page,
        "page_count": page_count,
        "page_size": size,
        "total_count": total,
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
