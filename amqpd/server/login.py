"""Who may log in from where: the wire's Authority for one client connection.

It adds what only the shell knows, the peer's address, to the model's rules:
``loopback_users`` (guest by default) may connect only from this machine, as in
RabbitMQ. A refused login is logged with the peer and the user and why, never
the password; the client sees RabbitMQ's one refusal text either way.
"""

from __future__ import annotations

import logging

from amqpd.model.broker import Broker

log = logging.getLogger("amqpd.connection")


class PeerLogin:
    def __init__(self, broker: Broker, peer_host: str, peer: str) -> None:
        self.broker = broker
        self.peer_host = peer_host
        self.peer = peer

    def check_password(self, user: str, password: str) -> bool:
        access = self.broker.access
        if not access.check_password(user, password):
            log.warning("connection %s: PLAIN login refused: user '%s' - invalid credentials",
                        self.peer, user)  # fmt: skip
            return False
        if not access.may_connect_from(user, self.peer_host):
            log.warning("connection %s: PLAIN login refused: user '%s' can only connect via "
                        "localhost", self.peer, user)  # fmt: skip
            return False
        return True

    def open_refusal(self, user: str, vhost: str) -> str | None:
        refusal = self.broker.open_refusal(user, vhost)
        if refusal is not None:
            log.warning("connection %s: connection.open refused: %s", self.peer, refusal)
        return refusal
