"""What the method handlers see of the broker: a narrow interface, not the broker.

``Broker`` implements ``BrokerContext``; handlers and publishing are typed
against it, so they depend on the parts they use and never on the broker
module above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from amqpd.model.access import Access
from amqpd.model.channel import ChannelModel, Consumer
from amqpd.model.delayed import DelayedDelivery
from amqpd.model.dispatcher import Dispatcher
from amqpd.model.journal import Journal
from amqpd.model.queue import Queue
from amqpd.model.reply_to import DirectReplyTo
from amqpd.model.session import Session
from amqpd.model.vhost import VirtualHost


@dataclass(eq=False)
class SessionState:
    """A connection's state in the model: its vhost and its open channels."""

    session: Session
    vhost: VirtualHost
    channels: dict[int, ChannelModel] = field(default_factory=dict)

    @property
    def cancel_notify(self) -> bool:
        capabilities = self.session.client_properties.get("capabilities") or {}
        return bool(capabilities.get("consumer_cancel_notify"))


class BrokerContext(Protocol):
    access: Access
    journal: Journal
    dispatcher: Dispatcher
    delayed: DelayedDelivery
    reply_to: DirectReplyTo
    max_message_size: int

    @property
    def now(self) -> float:
        """The model's clock at the current entry point."""

    def queue_changed(self, queue: Queue) -> None:
        """Reconcile ``queue`` (deliver, expire, enforce limits) before replying."""

    def confirm(self, channel: ChannelModel, seq: int, ok: bool = True) -> None: ...

    def delete_queue(self, vhost: VirtualHost, queue: Queue) -> int:
        """Delete a queue, cancelling its consumers; the number of messages it held."""

    def cancel_consumer(self, consumer: Consumer, notify: bool = False) -> None: ...
