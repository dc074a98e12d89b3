"""Signals the model raises to the shell that are not AMQP faults."""

from __future__ import annotations


class WaitForStore(Exception):  # noqa: N818 - a signal, not a fault
    """The command needs messages still in the store: run it again once they
    are read back (the session's later commands wait with it)."""
