"""Which permission each AMQP operation needs, on which resource, as RabbitMQ decides.

configure: declaring (not passively) and deleting exchanges and queues,
server-named and exclusive queues included. write: publishing to an exchange
(the default exchange is ``amq.default`` here), binding *to* a queue or
exchange, and the alternate exchange or dead-letter exchange a new exchange or
queue names. read: consuming from and getting and purging a queue, binding
*from* an exchange, and the exchange or queue that names an alternate or
dead-letter exchange. Topic permissions (on topic exchanges only) check the
routing key: write when publishing, read when binding or unbinding.
Passive declares need nothing. Each refusal is 403 ACCESS_REFUSED with
RabbitMQ's text.
"""

from __future__ import annotations

from amqpd.errors import ChannelError, ReplyCode
from amqpd.model.access import Access

CONFIGURE, WRITE, READ = "configure", "write", "read"
DEFAULT_EXCHANGE = "amq.default"  # the default exchange's name in permissions


def require(access: Access, user: str, vhost: str, permission: str, kind: str, name: str) -> None:
    """``kind``: "exchange" or "queue"; raises unless ``user`` holds ``permission`` on it."""
    if kind == "exchange" and name == "":
        name = DEFAULT_EXCHANGE
    if not access.permitted(user, vhost, permission, name):
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'",
        )


def require_topic(
    access: Access, user: str, vhost: str, permission: str, exchange: str, routing_key: str
) -> None:
    """For a topic exchange: raises unless the topic permission allows ``routing_key``."""
    if not access.topic_permitted(user, vhost, permission, exchange, routing_key):
        raise ChannelError(
            ReplyCode.ACCESS_REFUSED,
            f"access to topic '{routing_key}' in exchange '{exchange}' in vhost '{vhost}' "
            f"refused for user '{user}'",
        )


def queue_limit_reached(name: str, vhost: str, limit: int) -> ChannelError:
    return ChannelError(
        ReplyCode.PRECONDITION_FAILED,
        f"cannot declare queue '{name}': queue limit in vhost '{vhost}' ({limit}) is reached",
    )
