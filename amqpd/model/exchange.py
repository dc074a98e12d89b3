"""An exchange: its type's router and the bindings it is a source or destination of.

Also the exchanges every vhost has, and the errors RabbitMQ gives for exchange
names and types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.exchange_types import REGISTRY, ExchangeType
from amqpd.model.policies import Policy, alternate_exchange

# Exchanges every vhost has, as in RabbitMQ.
PREDECLARED = {
    "": "direct",
    "amq.direct": "direct",
    "amq.fanout": "fanout",
    "amq.topic": "topic",
    "amq.headers": "headers",
    "amq.match": "headers",
    "amq.rabbitmq.trace": "topic",
}
# The firehose tracer's exchange (tracing.py): internal, so only the broker publishes to it.
TRACE_EXCHANGE = "amq.rabbitmq.trace"
INTERNAL_PREDECLARED = frozenset({TRACE_EXCHANGE})

# The x-delayed-message exchange holds messages, then routes them as its x-delayed-type.
DELAYED_TYPE = "x-delayed-message"


@dataclass(eq=False)
class Exchange:
    name: str
    type: str
    durable: bool = True
    auto_delete: bool = False
    internal: bool = False
    arguments: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.delayed = self.type == DELAYED_TYPE
        routing_type = delayed_type(self.arguments) if self.delayed else self.type
        self.router: ExchangeType = REGISTRY[routing_type]()
        self.store_batch = 0  # the batch that writes its declaration (journal.wait_for)
        # Bindings where this is the source: (destination, key, frozen arguments) -> arguments.
        self.bindings: dict[tuple, dict] = {}
        # (source name, key, frozen arguments) for bindings where this is the destination.
        self.inbound: set[tuple] = set()
        self.policy: Policy | None = None
        self.operator_policy: Policy | None = None
        self.alternate = alternate_exchange(self.arguments)

    def set_policies(self, policy: Policy | None, operator: Policy | None) -> bool:
        """Apply a new policy pair; True if the alternate exchange changed.
        The alternate-exchange argument wins over a policy's."""
        self.policy, self.operator_policy = policy, operator
        alternate = alternate_exchange(self.arguments, policy, operator)
        changed = alternate != self.alternate
        self.alternate = alternate
        return changed


def is_known_type(type_: str, arguments: dict) -> bool:
    """Whether an exchange of this type (and x-delayed-type) can be declared."""
    if type_ == DELAYED_TYPE:
        return delayed_type(arguments) in REGISTRY
    return type_ in REGISTRY


def delayed_type(arguments: dict) -> str | None:
    value = arguments.get("x-delayed-type")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# RabbitMQ says "invalid" for type names that happen to be atoms in its VM and
# "unknown" for the rest; these are the common names known to be atoms there.
_ERLANG_ATOMS = frozenset(
    {"", "foo", "true", "false", "local", "undefined", "ok", "error", "none", "infinity",
     "ignore", "global", "node"}
)  # fmt: skip


def bad_type_text(type_: str) -> str:
    word = "invalid" if type_ in _ERLANG_ATOMS else "unknown"
    return f"{word} exchange type '{type_}'"


def default_exchange_refused() -> ChannelError:
    return ChannelError(ReplyCode.ACCESS_REFUSED, "operation not permitted on the default exchange")
