"""A definitions file loaded at boot (``--load-definitions``, ``load_definitions``).

As RabbitMQ's ``load_definitions``: the file is imported at every start, as a
merge, once the store has been recovered and before any client is served; and
a broker that has one to load seeds no default user or vhost on a first start
(the file says who may log in). A file that cannot be read, is not a JSON
object or holds a record that is refused stops the broker with a one-line
ConfigError.
"""

from __future__ import annotations

import json
import logging

from amqpd.config import ConfigError
from amqpd.model import definitions
from amqpd.model.broker import Broker

log = logging.getLogger("amqpd.definitions")


def read(path: str) -> dict:
    """The file's definitions, or ConfigError saying why not."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        raise ConfigError(f"cannot read definitions file {path}: {err.strerror}") from None
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"definitions file {path} is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ConfigError(f"definitions file {path} is not a JSON object")
    return body


def load(broker: Broker, path: str) -> None:
    """Import the file as RabbitMQ's internal user does (ConfigError if refused)."""
    body = read(path)
    try:
        definitions.apply(broker, body, definitions.ACTING_USER)
    except definitions.DefinitionsError as err:
        reason = " ".join(err.text.split())  # one line
        raise ConfigError(f"definitions file {path} was refused: {reason}") from None
    log.info("definitions imported from %s", path)
