"""Names the broker makes up: server-named queues and consumer tags."""

from __future__ import annotations

import base64
import secrets


def _token() -> str:
    # 16 random bytes, URL-safe base64 without padding: 22 characters, as RabbitMQ uses.
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def queue_name() -> str:
    return f"amq.gen-{_token()}"


def consumer_tag() -> str:
    return f"amq.ctag-{_token()}"
