"""Changes made from outside AMQP: the management API and the command line.

Each operation runs as a client's command would (the same checks, texts and
journal), but for no session: nothing an API call declares is exclusive to
anyone. Each returns whether it made a durable change, so the caller can wait
for the store before it answers, as a declare-ok waits on AMQP.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.broker import Broker
from amqpd.model.vhost import VirtualHost


@dataclass(frozen=True)
class Outcome:
    created: bool = False  # the object did not exist before
    durable: bool = False  # a durable change waits for the store
    count: int = 0  # messages deleted or purged


class Admin:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _vhost(self, name: str) -> VirtualHost:
        vhost = self.broker.vhosts.get(name)
        if vhost is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no vhost '{name}'")
        return vhost

    def _run(self, operation) -> Outcome:  # noqa: ANN001 - a callable returning an Outcome
        broker = self.broker
        broker.tick()
        mark = broker.journal.mark()
        try:
            outcome = operation()
        finally:
            broker.dispatch()
        durable = broker.journal.durable_since(mark)
        return Outcome(outcome.created, durable, outcome.count)

    # ---- exchanges --------------------------------------------------------------
    def declare_exchange(
        self, vhost: str, name: str, type_: str, *, durable: bool = True,
        auto_delete: bool = False, internal: bool = False, arguments: dict | None = None,
    ) -> Outcome:  # fmt: skip
        def declare() -> Outcome:
            v = self._vhost(vhost)
            existed = name in v.exchanges
            v.declare_exchange(name, type_, passive=False, durable=durable,
                               auto_delete=auto_delete, internal=internal,
                               arguments=arguments or {})  # fmt: skip
            return Outcome(created=not existed)

        return self._run(declare)

    def delete_exchange(self, vhost: str, name: str, if_unused: bool = False) -> Outcome:
        def delete() -> Outcome:
            self._vhost(vhost).delete_exchange(name, if_unused)
            return Outcome()

        return self._run(delete)

    # ---- queues -----------------------------------------------------------------
    def declare_queue(
        self, vhost: str, name: str, *, durable: bool = True, auto_delete: bool = False,
        arguments: dict | None = None,
    ) -> Outcome:  # fmt: skip
        def declare() -> Outcome:
            v = self._vhost(vhost)
            existed = name in v.queues
            queue = v.declare_queue(name, owner=None, passive=False, durable=durable,
                                    exclusive=False, auto_delete=auto_delete,
                                    arguments=arguments or {})  # fmt: skip
            self.broker.dispatcher.touch(queue)
            return Outcome(created=not existed)

        return self._run(declare)

    def delete_queue(
        self, vhost: str, name: str, if_empty: bool = False, if_unused: bool = False
    ) -> Outcome:
        def delete() -> Outcome:
            v = self._vhost(vhost)
            queue = v.queue(name)
            where = f"queue '{queue.name}' in vhost '{queue.vhost}'"
            if if_unused and queue.consumers:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} in use")
            if if_empty and queue.message_count:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{where} not empty")
            return Outcome(count=self.broker.delete_queue(v, queue))

        return self._run(delete)

    def purge_queue(self, vhost: str, name: str) -> Outcome:
        def purge() -> Outcome:
            queue = self._vhost(vhost).queue(name)
            count, paged_from = queue.message_count, queue.paged_from
            self.broker.journal.purged(queue, queue.purge(), paged_from)
            return Outcome(count=count)

        return self._run(purge)

    # ---- bindings ---------------------------------------------------------------
    def bind(
        self, vhost: str, source: str, kind: str, destination: str, key: str, arguments: dict
    ) -> Outcome:
        def bind() -> Outcome:
            v = self._vhost(vhost)
            exchange = v.exchange(source)
            if kind == "queue":
                v.bind_queue(v.queue(destination), exchange, key, arguments)
            else:
                v.bind_exchange(v.exchange(destination), exchange, key, arguments)
            return Outcome(created=True)

        return self._run(bind)

    def unbind(
        self, vhost: str, source: str, kind: str, destination: str, key: str, arguments: dict
    ) -> Outcome:
        def unbind() -> Outcome:
            v = self._vhost(vhost)
            exchange = v.exchange(source)
            if kind == "queue":
                v.unbind_queue(v.queue(destination), exchange, key, arguments)
            else:
                v.unbind_exchange(v.exchange(destination), exchange, key, arguments)
            return Outcome()

        return self._run(unbind)
