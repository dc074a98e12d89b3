"""AMQP transactions (tx.select): what a channel holds back until tx.commit.

Publishes wait to be routed; acks, nacks and rejects wait to be applied. A
rollback drops the publishes and makes the settled deliveries unacked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amqpd.model.exchange import Exchange
from amqpd.model.message import Message


@dataclass(slots=True)
class HeldPublish:
    exchange: Exchange
    message: Message
    mandatory: bool


@dataclass(slots=True)
class HeldSettlement:
    # (delivery tag, channel.Unacked): the channel module sits above this one.
    settled: list[tuple[int, object]]
    requeue: bool | None  # None: an ack; True: requeue; False: reject (dead-letter)


@dataclass
class Transaction:
    actions: list[HeldPublish | HeldSettlement] = field(default_factory=list)

    def take(self) -> list[HeldPublish | HeldSettlement]:
        """The actions to commit or roll back; the transaction starts afresh."""
        actions, self.actions = self.actions, []
        return actions

    def held_deliveries(self) -> list:
        """Deliveries settled inside the transaction, not yet for good."""
        return [
            unacked
            for action in self.actions
            if isinstance(action, HeldSettlement)
            for _tag, unacked in action.settled
        ]
