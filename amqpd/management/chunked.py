"""Big answers a few hundred objects at a time, so the API never stalls AMQP traffic.

The API shares the broker's event loop: a list of 10,000 queues built and
encoded in one go held every AMQP connection for about 150 ms. Here each pass
over a list (taking snapshots, rendering, computing sort keys, encoding) lets
the loop run other tasks after every ``CHUNK`` objects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import trio

T = TypeVar("T")
R = TypeVar("R")

# Objects handled between two checkpoints: a queue costs ~15-25 µs to picture,
# render and encode, so a chunk is a few ms of the loop.
CHUNK = 100

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: object) -> bytes:
    """``value`` as the API's compact JSON."""
    return _encode(value).encode()


@dataclass(frozen=True)
class Encoded:
    """A JSON array whose items are encoded already, one ``bytes`` each, in order."""

    items: list[bytes]


async def paced(items: Iterable[T]) -> AsyncIterator[T]:
    """``items``, with a checkpoint after every ``CHUNK`` of them."""
    for n, item in enumerate(items, 1):
        yield item
        if n % CHUNK == 0:
            await trio.lowlevel.checkpoint()


async def each(items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """``[fn(item) for item in items]``, a chunk per event-loop turn."""
    return [fn(item) async for item in paced(items)]


async def encode_json(body: object) -> list[bytes]:
    """``body`` as compact JSON (the bytes ``json.dumps`` gives), in pieces: a long list,
    at the top or as a value of the top object (a page's ``items``), a chunk a piece."""
    if isinstance(body, Encoded):
        return await _join(body.items)
    if isinstance(body, list) and len(body) > CHUNK:
        return await _encode_list(body)
    if isinstance(body, dict) and any(map(_long, body.values())) and all(map(_is_str, body)):
        pieces = [b"{"]
        for n, (key, value) in enumerate(body.items()):
            pieces.append(f"{',' if n else ''}{_encode(key)}:".encode())
            pieces += await _encode_list(value) if _long(value) else [_encode(value).encode()]
        pieces.append(b"}")
        return pieces
    return [_encode(body).encode()]


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _long(value: object) -> bool:
    return isinstance(value, list) and len(value) > CHUNK


async def _join(items: list[bytes]) -> list[bytes]:
    pieces = []
    for start in range(0, len(items), CHUNK):
        pieces.append((b"[" if start == 0 else b",") + b",".join(items[start : start + CHUNK]))
        await trio.lowlevel.checkpoint()
    return [*pieces, b"]"] if pieces else [b"[]"]


async def _encode_list(items: list) -> list[bytes]:
    pieces = []
    for start in range(0, len(items), CHUNK):
        inner = _encode(items[start : start + CHUNK])[1:-1]
        pieces.append((b"[" if start == 0 else b",") + inner.encode())
        await trio.lowlevel.checkpoint()
    pieces.append(b"]")
    return pieces
