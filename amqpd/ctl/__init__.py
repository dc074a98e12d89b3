"""``amqpd ctl`` and ``amqpd diagnostics``: rabbitmqctl's and rabbitmq-diagnostics' commands.

A client of the management HTTP API, never a second way into the broker. Each module holds
one command group; a command is a ``Command`` (name, usage, defaults, banner, run) registered
in ``registry``. ``main.run`` parses the shared flags and dispatches.
"""


def load_commands() -> None:
    """Import every command module, each registering its commands."""
    from amqpd.ctl import (  # noqa: F401
        clients,
        definitions,
        diagnostics,
        node,
        permissions,
        policies,
        queues,
        topology,
        tracing,
        users,
        vhosts,
    )
