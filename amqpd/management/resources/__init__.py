"""One module per kind of object; ``build_router`` collects their routes."""

from __future__ import annotations

from amqpd.management.resources import (
    bindings,
    connections,
    definitions,
    exchanges,
    health,
    messages,
    overview,
    parameters,
    permissions,
    policies,
    queues,
    users,
    vhosts,
)
from amqpd.management.router import Router


def build_router() -> Router:
    router = Router()
    for module in (overview, exchanges, queues, bindings, messages, connections, health,
                   users, vhosts, permissions, policies, parameters, definitions):  # fmt: skip
        module.register(router)
    return router
