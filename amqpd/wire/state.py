"""The connection's states and the only moves between them."""

from __future__ import annotations

import enum


class State(enum.Enum):
    AWAIT_HEADER = "awaiting protocol header"
    AWAIT_START_OK = "starting"
    AWAIT_TUNE_OK = "tuning"
    AWAIT_OPEN = "opening"
    OPEN = "running"
    CLOSING = "closing"  # close sent or answered: only close / close-ok matter now
    LINGER = "lingering"  # nothing more is read; the socket drops at the deadline
    CLOSED = "closed"


# Where each state may go. A transition not listed is a bug, not a client fault.
TRANSITIONS = {
    State.AWAIT_HEADER: {State.AWAIT_START_OK, State.CLOSED},
    State.AWAIT_START_OK: {State.AWAIT_TUNE_OK, State.CLOSING, State.LINGER, State.CLOSED},
    State.AWAIT_TUNE_OK: {State.AWAIT_OPEN, State.LINGER, State.CLOSED},
    State.AWAIT_OPEN: {State.OPEN, State.CLOSING, State.LINGER, State.CLOSED},
    State.OPEN: {State.CLOSING, State.LINGER, State.CLOSED},
    State.CLOSING: {State.CLOSED},
    State.LINGER: {State.CLOSED},
    State.CLOSED: set(),
}
HANDSHAKE = frozenset(
    {State.AWAIT_HEADER, State.AWAIT_START_OK, State.AWAIT_TUNE_OK, State.AWAIT_OPEN}
)
# Before tune-ok RabbitMQ answers no fault: it drops the socket after a pause.
SILENT = frozenset({State.AWAIT_START_OK, State.AWAIT_TUNE_OK})
