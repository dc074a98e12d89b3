"""Defaults shared by the configuration and the broker model, each written once."""

from __future__ import annotations

# RabbitMQ 3.10's default max_message_size: 128 MiB.
MAX_MESSAGE_SIZE = 128 * 1024 * 1024
# RabbitMQ 3.x's default consumer_timeout, in ms as RabbitMQ configures it: 30 minutes.
CONSUMER_TIMEOUT_MS = 30 * 60 * 1000
