"""A virtual host: its exchanges, queues and the bindings between them.

Declaring, deleting, binding and unbinding, with RabbitMQ's checks and texts
(routing is in routing.py). Faults raise ChannelError/AMQPConnectionError; the
caller names the method at fault. Each durable change is journaled before the
model changes, so a change the journal cannot record never happens at all.
"""

from __future__ import annotations

from collections.abc import Callable

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
from amqpd.model import names
from amqpd.model.arguments import (
    QUEUE_EQUIVALENCE_ARGS,
    STREAM_EQUIVALENCE_ARGS,
    inequivalence,
    type_name,
)
from amqpd.model.exchange import (
    DELAYED_TYPE,
    INTERNAL_PREDECLARED,
    PREDECLARED,
    Exchange,
    bad_type_text,
    default_exchange_refused,
    is_known_type,
)
from amqpd.model.exchange_types import check_binding
from amqpd.model.journal import Journal
from amqpd.model.message import freeze
from amqpd.model.policies import PolicySet
from amqpd.model.queue import Queue
from amqpd.model.queue_args import check_new_queue


def _flag(value: bool) -> str:
    return "true" if value else "false"


def queue_dest(name: str) -> tuple[str, str]:
    return ("queue", name)


def exchange_dest(name: str) -> tuple[str, str]:
    return ("exchange", name)


class VirtualHost:
    def __init__(self, name: str, journal: Journal | None = None) -> None:
        self.name = name
        self.journal = journal or Journal()
        self.exchanges: dict[str, Exchange] = {
            xname: Exchange(xname, xtype, internal=xname in INTERNAL_PREDECLARED)
            for xname, xtype in PREDECLARED.items()
        }
        self.queues: dict[str, Queue] = {}
        self.policies = PolicySet()  # its policies and operator policies (parameters.py)
        self.tracing = False  # the firehose is on (tracing.py): publishes and deliveries copied

    # ---- lookups ----------------------------------------------------------------
    def exchange(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no exchange '{name}' in vhost '{self.name}'")
        return exchange

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no queue '{name}' in vhost '{self.name}'")
        return queue

    # ---- exchanges --------------------------------------------------------------
    def declare_exchange(
        self,
        name: str,
        type_: str,
        *,
        passive: bool,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: dict,
    ) -> Exchange:
        if name == "":
            raise default_exchange_refused()
        if passive:
            exchange = self.exchange(name)
            self.journal.wait_for(exchange)
            return exchange
        if not is_known_type(type_, arguments):
            if type_ == DELAYED_TYPE:
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    "Invalid argument, 'x-delayed-type' must be an existing exchange type",
                )
            raise AMQPConnectionError(ReplyCode.COMMAND_INVALID, bad_type_text(type_))
        current = self.exchanges.get(name)
        if current is None:
            self._check_new_exchange(name, arguments)
            exchange = Exchange(name, type_, durable, auto_delete, internal, arguments)
            exchange.set_policies(*self.policies.match("exchange", name))
            self.journal.exchange_declared(self.name, exchange)
            self.exchanges[name] = exchange
            return exchange
        self._check_equivalent_exchange(current, type_, durable, auto_delete, internal, arguments)
        self.journal.wait_for(current)
        return current

    def _check_new_exchange(self, name: str, arguments: dict) -> None:
        if name.startswith("amq."):
            raise ChannelError(
                ReplyCode.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
            )
        alternate = arguments.get("alternate-exchange")
        if alternate is not None and not isinstance(alternate, str | bytes):
            kind = type_name(alternate, _type_of(arguments, "alternate-exchange"))
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"invalid type '{kind}' for arg 'alternate-exchange' "
                f"in exchange '{name}' in vhost '{self.name}'",
            )

    def _check_equivalent_exchange(
        self,
        current: Exchange,
        type_: str,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: dict,
    ) -> None:
        where = f"for exchange '{current.name}' in vhost '{self.name}'"
        for arg, new, old in (
            ("type", type_, current.type),
            ("durable", _flag(durable), _flag(current.durable)),
            ("auto_delete", _flag(auto_delete), _flag(current.auto_delete)),
            ("internal", _flag(internal), _flag(current.internal)),
        ):
            if new != old:
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f"inequivalent arg '{arg}' {where}: received '{new}' but current is '{old}'",
                )
        # Of the arguments, RabbitMQ compares only alternate-exchange.
        reason = inequivalence(
            arguments.get("alternate-exchange"),
            current.arguments.get("alternate-exchange"),
            _type_of(arguments, "alternate-exchange"),
            _type_of(current.arguments, "alternate-exchange"),
        )
        if reason:
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"inequivalent arg 'alternate-exchange' {where}: {reason}",
            )

    def delete_exchange(self, name: str, if_unused: bool) -> None:
        if name == "":
            raise default_exchange_refused()
        if name.startswith("amq."):
            raise ChannelError(
                ReplyCode.ACCESS_REFUSED,
                f"deletion of system exchange '{name}' in vhost '{self.name}' not allowed",
            )
        exchange = self.exchanges.get(name)
        if exchange is None:
            return
        if if_unused and exchange.bindings:
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"exchange '{name}' in vhost '{self.name}' in use",
            )
        self._remove_exchange(exchange)

    def remove_exchange(self, exchange: Exchange) -> None:
        """Remove an exchange and its bindings, whatever its name (the vhost is going)."""
        self._remove_exchange(exchange)

    def _remove_exchange(self, exchange: Exchange) -> None:
        for dest, key, frozen in list(exchange.bindings):
            self._drop_binding(exchange, (dest, key, frozen))
        for source, key, frozen in list(exchange.inbound):
            src = self.exchanges.get(source)
            if src is not None:
                self._drop_binding(src, (exchange_dest(exchange.name), key, frozen))
        self.exchanges.pop(exchange.name, None)
        self.journal.exchange_deleted(self.name, exchange)

    # ---- queues -----------------------------------------------------------------
    def declare_queue(
        self,
        name: str,
        *,
        owner: object,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        arguments: dict,
        check: Callable[[str, bool], None] | None = None,
    ) -> Queue:
        """``check(name, new)``: the caller's permission and limit checks, once the
        name is known (server-named queues included) and before anything changes."""
        if passive:
            queue = self.queue(name)
            self.check_exclusive(queue, owner)
            self.journal.wait_for(queue)
            return queue
        server_named = name == ""
        if server_named:
            name = names.queue_name()
        elif name.startswith("amq."):
            raise ChannelError(
                ReplyCode.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'"
            )
        current = self.queues.get(name)
        if check is not None:
            check(name, current is None)
        if current is None:
            problem = check_new_queue(
                name,
                self.name,
                arguments,
                server_named=server_named,
                durable=durable,
                exclusive=exclusive,
                auto_delete=auto_delete,
            )
            if problem is not None:
                raise problem
            queue = Queue(name, self.name, durable, owner if exclusive else None, auto_delete,
                          arguments)  # fmt: skip
            queue.set_policies(*self.policies.match("queue", name, queue.type))
            self.journal.queue_declared(queue)
            self.queues[name] = queue
            return queue
        self.check_exclusive(current, owner)
        self._check_equivalent_queue(current, durable, exclusive, auto_delete, arguments)
        self.journal.wait_for(current)
        return current

    def _check_equivalent_queue(
        self, current: Queue, durable: bool, exclusive: bool, auto_delete: bool, arguments: dict
    ) -> None:
        where = f"for queue '{current.name}' in vhost '{self.name}'"
        for arg, new, old in (
            ("durable", durable, current.durable),
            ("auto_delete", auto_delete, current.auto_delete),
        ):
            if new != old:
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f"inequivalent arg '{arg}' {where}: "
                    f"received '{_flag(new)}' but current is '{_flag(old)}'",
                )
        if exclusive != (current.exclusive_owner is not None):
            raise _locked(current)
        compared = QUEUE_EQUIVALENCE_ARGS + (STREAM_EQUIVALENCE_ARGS if current.stream else ())
        for arg in compared:
            new, old = arguments.get(arg), current.arguments.get(arg)
            if arg == "x-queue-type" and (new or "classic") == (old or "classic"):
                continue  # an absent type means classic
            reason = inequivalence(
                new, old, _type_of(arguments, arg), _type_of(current.arguments, arg)
            )
            if reason:
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED, f"inequivalent arg '{arg}' {where}: {reason}"
                )

    def check_exclusive(self, queue: Queue, owner: object) -> None:
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise _locked(queue)

    def delete_queue(self, queue: Queue) -> None:
        for exchange_name, key, frozen in list(queue.bindings):
            exchange = self.exchanges.get(exchange_name)
            if exchange is not None:
                self._drop_binding(exchange, (queue_dest(queue.name), key, frozen))
        self.queues.pop(queue.name, None)
        self.journal.queue_deleted(queue)
        queue.deleted = True

    # ---- bindings ---------------------------------------------------------------
    def bind_queue(self, queue: Queue, exchange: Exchange, key: str, arguments: dict) -> None:
        if exchange.name == "":
            raise default_exchange_refused()
        check_binding(exchange.type, arguments)
        frozen = freeze(arguments or {})
        dest = queue_dest(queue.name)
        if (dest, key, frozen) in exchange.bindings:
            return
        if exchange.durable and queue.store_id is not None:
            self.journal.binding_changed(True, self.name, exchange.name, dest, key, frozen,
                                         arguments or {})  # fmt: skip
        exchange.bindings[(dest, key, frozen)] = arguments or {}
        queue.bindings.add((exchange.name, key, frozen))
        exchange.router.bind(dest, key, arguments or {})

    def unbind_queue(self, queue: Queue, exchange: Exchange, key: str, arguments: dict) -> None:
        if exchange.name == "":
            raise default_exchange_refused()
        self._drop_binding(exchange, (queue_dest(queue.name), key, freeze(arguments or {})))

    def bind_exchange(
        self, destination: Exchange, source: Exchange, key: str, arguments: dict
    ) -> None:
        if "" in (destination.name, source.name):
            raise default_exchange_refused()
        check_binding(source.type, arguments)
        frozen = freeze(arguments or {})
        dest = exchange_dest(destination.name)
        if (dest, key, frozen) in source.bindings:
            return
        if source.durable and destination.durable:
            self.journal.binding_changed(True, self.name, source.name, dest, key, frozen,
                                         arguments or {})  # fmt: skip
        source.bindings[(dest, key, frozen)] = arguments or {}
        destination.inbound.add((source.name, key, frozen))
        source.router.bind(dest, key, arguments or {})

    def unbind_exchange(
        self, destination: Exchange, source: Exchange, key: str, arguments: dict
    ) -> None:
        if "" in (destination.name, source.name):
            raise default_exchange_refused()
        self._drop_binding(source, (exchange_dest(destination.name), key, freeze(arguments or {})))

    def _drop_binding(self, source: Exchange, binding: tuple) -> None:
        arguments = source.bindings.pop(binding, None)
        if arguments is None:
            return
        dest, key, frozen = binding
        source.router.unbind(dest, key, arguments)
        kind, name = dest
        stored = False
        if kind == "queue":
            queue = self.queues.get(name)
            if queue is not None:
                queue.bindings.discard((source.name, key, frozen))
                stored = queue.store_id is not None
        else:
            target = self.exchanges.get(name)
            if target is not None:
                target.inbound.discard((source.name, key, frozen))
                stored = target.durable
        if stored and source.durable:
            self.journal.binding_changed(False, self.name, source.name, dest, key, frozen,
                                         arguments)  # fmt: skip
        # An auto-delete exchange goes once the last binding from it is gone.
        if source.auto_delete and not source.bindings and source.name in self.exchanges:
            self._remove_exchange(source)


def _type_of(arguments: dict, key: str) -> str | None:
    types = getattr(arguments, "types", None)
    return types.get(key) if types else None


def _locked(queue: Queue) -> ChannelError:
    return ChannelError(
        ReplyCode.RESOURCE_LOCKED,
        f"cannot obtain exclusive access to locked queue '{queue.name}' in vhost "
        f"'{queue.vhost}'. It could be originally declared on another connection or the "
        "exclusive property value does not match that of the original declaration.",
    )
