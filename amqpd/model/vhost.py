"""A virtual host: its exchanges, queues and bindings, and routing between them.

Faults raise ChannelError/AMQPConnectionError with RabbitMQ's texts; the
caller names the method at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amqpd.errors import AMQPConnectionError, ChannelError, ReplyCode
from amqpd.model import names
from amqpd.model.arguments import QUEUE_EQUIVALENCE_ARGS, inequivalence, type_name
from amqpd.model.exchange_types import REGISTRY, ExchangeType
from amqpd.model.journal import Journal
from amqpd.model.message import Message, freeze
from amqpd.model.queue import Queue
from amqpd.model.queue_args import check_new_queue

# Exchanges every vhost has, as in RabbitMQ.
PREDECLARED = {
    "": "direct",
    "amq.direct": "direct",
    "amq.fanout": "fanout",
    "amq.topic": "topic",
    "amq.headers": "headers",
    "amq.match": "headers",
}


@dataclass(eq=False)
class Exchange:
    name: str
    type: str
    durable: bool = True
    auto_delete: bool = False
    internal: bool = False
    arguments: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # x-delayed-message holds messages, then routes them as its x-delayed-type.
        self.delayed = self.type == DELAYED_TYPE
        routing_type = _delayed_type(self.arguments) if self.delayed else self.type
        self.router: ExchangeType = REGISTRY[routing_type]()
        self.store_batch = 0  # the batch that writes its declaration (journal.wait_for)
        # Bindings where this is the source: (destination, key, frozen arguments) -> arguments.
        self.bindings: dict[tuple, dict] = {}
        # (source name, key, frozen arguments) for bindings where this is the destination.
        self.inbound: set[tuple] = set()

    @property
    def alternate(self) -> str | None:
        value = self.arguments.get("alternate-exchange")
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return value if isinstance(value, str) else None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _queue_dest(name: str) -> tuple[str, str]:
    return ("queue", name)


def _exchange_dest(name: str) -> tuple[str, str]:
    return ("exchange", name)


class VirtualHost:
    def __init__(self, name: str, journal: Journal | None = None) -> None:
        self.name = name
        self.journal = journal or Journal()
        self.exchanges: dict[str, Exchange] = {
            xname: Exchange(xname, xtype) for xname, xtype in PREDECLARED.items()
        }
        self.queues: dict[str, Queue] = {}

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
        if type_ not in REGISTRY and type_ != DELAYED_TYPE:
            raise AMQPConnectionError(ReplyCode.COMMAND_INVALID, _bad_type_text(type_))
        if type_ == DELAYED_TYPE and _delayed_type(arguments) not in REGISTRY:
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                "Invalid argument, 'x-delayed-type' must be an existing exchange type",
            )
        current = self.exchanges.get(name)
        alternate = arguments.get("alternate-exchange")
        if current is None:
            if name.startswith("amq."):
                raise ChannelError(
                    ReplyCode.ACCESS_REFUSED,
                    f"exchange name '{name}' contains reserved prefix 'amq.*'",
                )
            if alternate is not None and not isinstance(alternate, str | bytes):
                kind = type_name(alternate, _type_of(arguments, "alternate-exchange"))
                raise ChannelError(
                    ReplyCode.PRECONDITION_FAILED,
                    f"invalid type '{kind}' for arg 'alternate-exchange' "
                    f"in exchange '{name}' in vhost '{self.name}'",
                )
            current = Exchange(name, type_, durable, auto_delete, internal, arguments)
            self.exchanges[name] = current
            self.journal.exchange_declared(self.name, current)
            return current
        where = f"for exchange '{name}' in vhost '{self.name}'"
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
            alternate,
            current.arguments.get("alternate-exchange"),
            _type_of(arguments, "alternate-exchange"),
            _type_of(current.arguments, "alternate-exchange"),
        )
        if reason:
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"inequivalent arg 'alternate-exchange' {where}: {reason}",
            )
        self.journal.wait_for(current)
        return current

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

    def _remove_exchange(self, exchange: Exchange) -> None:
        for dest, key, frozen in list(exchange.bindings):
            self._drop_binding(exchange, (dest, key, frozen))
        for source, key, frozen in list(exchange.inbound):
            src = self.exchanges.get(source)
            if src is not None:
                self._drop_binding(src, (_exchange_dest(exchange.name), key, frozen))
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
    ) -> Queue:
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
            queue = Queue(
                name,
                self.name,
                durable,
                owner if exclusive else None,
                auto_delete,
                arguments,
            )
            self.queues[name] = queue
            self.journal.queue_declared(queue)
            return queue
        self.check_exclusive(current, owner)
        where = f"for queue '{name}' in vhost '{self.name}'"
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
        for arg in QUEUE_EQUIVALENCE_ARGS:
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
        self.journal.wait_for(current)
        return current

    def check_exclusive(self, queue: Queue, owner: object) -> None:
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise _locked(queue)

    def delete_queue(self, queue: Queue) -> None:
        for exchange_name, key, frozen in list(queue.bindings):
            exchange = self.exchanges.get(exchange_name)
            if exchange is not None:
                self._drop_binding(exchange, (_queue_dest(queue.name), key, frozen))
        self.queues.pop(queue.name, None)
        self.journal.queue_deleted(queue)
        queue.deleted = True

    # ---- bindings ---------------------------------------------------------------
    def bind_queue(self, queue: Queue, exchange: Exchange, key: str, arguments: dict) -> None:
        if exchange.name == "":
            raise default_exchange_refused()
        frozen = freeze(arguments or {})
        dest = _queue_dest(queue.name)
        if (dest, key, frozen) in exchange.bindings:
            return
        exchange.bindings[(dest, key, frozen)] = arguments or {}
        queue.bindings.add((exchange.name, key, frozen))
        exchange.router.bind(dest, key, arguments or {})
        if exchange.durable and queue.store_id is not None:
            self.journal.binding_changed(True, self.name, exchange.name, dest, key, frozen,
                                         arguments or {})  # fmt: skip

    def unbind_queue(self, queue: Queue, exchange: Exchange, key: str, arguments: dict) -> None:
        if exchange.name == "":
            raise default_exchange_refused()
        self._drop_binding(exchange, (_queue_dest(queue.name), key, freeze(arguments or {})))

    def bind_exchange(
        self, destination: Exchange, source: Exchange, key: str, arguments: dict
    ) -> None:
        if "" in (destination.name, source.name):
            raise default_exchange_refused()
        frozen = freeze(arguments or {})
        dest = _exchange_dest(destination.name)
        if (dest, key, frozen) in source.bindings:
            return
        source.bindings[(dest, key, frozen)] = arguments or {}
        destination.inbound.add((source.name, key, frozen))
        source.router.bind(dest, key, arguments or {})
        if source.durable and destination.durable:
            self.journal.binding_changed(True, self.name, source.name, dest, key, frozen,
                                         arguments or {})  # fmt: skip

    def unbind_exchange(
        self, destination: Exchange, source: Exchange, key: str, arguments: dict
    ) -> None:
        if "" in (destination.name, source.name):
            raise default_exchange_refused()
        self._drop_binding(source, (_exchange_dest(destination.name), key, freeze(arguments or {})))

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

    # ---- routing ----------------------------------------------------------------
    def route(
        self, exchange: Exchange, message: Message, keys: list[str] | None = None
    ) -> list[Queue]:
        """Queues the message goes to: through exchange bindings and alternate
        exchanges, each exchange visited once, each queue reached once.

        ``keys`` are the routing key and any sender-selected (CC/BCC) ones.
        """
        keys = [message.routing_key] if keys is None else keys
        if exchange.name == "":
            found = (self.queues.get(key) for key in dict.fromkeys(keys))
            return [queue for queue in found if queue is not None]
        queues: dict[str, Queue] = {}
        seen = {exchange.name}
        work = [exchange]
        headers = None
        while work:
            current = work.pop()
            if current.type == "headers":
                if headers is None:
                    headers = message.headers
                dests = list(current.router.route("", headers))
            else:
                dests = []
                for key in keys:
                    dests.extend(current.router.route(key, None))
            if not dests and current.alternate:
                dests = [_exchange_dest(current.alternate)]
            for kind, name in dests:
                if kind == "queue":
                    queue = self.queues.get(name)
                    if queue is not None:
                        queues[name] = queue
                elif name not in seen:
                    seen.add(name)
                    target = self.exchanges.get(name)
                    if target is not None:
                        work.append(target)
        return list(queues.values())


# RabbitMQ says "invalid" for type names that happen to be atoms in its VM and
# "unknown" for the rest; these are the common names known to be atoms there.
_ERLANG_ATOMS = frozenset(
    {
        "",
        "foo",
        "true",
        "false",
        "local",
        "undefined",
        "ok",
        "error",
        "none",
        "infinity",
        "ignore",
        "global",
        "node",
    }
)


def _bad_type_text(type_: str) -> str:
    word = "invalid" if type_ in _ERLANG_ATOMS else "unknown"
    return f"{word} exchange type '{type_}'"


DELAYED_TYPE = "x-delayed-message"


def _delayed_type(arguments: dict) -> str | None:
    value = arguments.get("x-delayed-type")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _type_of(arguments: dict, key: str) -> str | None:
    types = getattr(arguments, "types", None)
    return types.get(key) if types else None


def default_exchange_refused() -> ChannelError:
    return ChannelError(ReplyCode.ACCESS_REFUSED, "operation not permitted on the default exchange")


def _locked(queue: Queue) -> ChannelError:
    return ChannelError(
        ReplyCode.RESOURCE_LOCKED,
        f"cannot obtain exclusive access to locked queue '{queue.name}' in vhost "
        f"'{queue.vhost}'. It could be originally declared on another connection or the "
        "exclusive property value does not match that of the original declaration.",
    )
