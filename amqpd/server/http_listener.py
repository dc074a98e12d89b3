"""An HTTP listener inside the broker: hypercorn serving one ASGI app on Trio.

The broker opens the socket itself (``bind``), before anything is served, so a
taken port is a one-line error and port 0 picks a free one; ``serve`` then hands
the descriptor to hypercorn, which closes it when it stops. The management API
and the Prometheus endpoint each have one.
"""

from __future__ import annotations

import logging
import socket

import hypercorn.config
import hypercorn.trio
import trio

IDLE_KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection is kept open
MAX_HEADER_BYTES = 16 * 1024  # request line and headers together


class HttpListener:
    def __init__(self, app: object, log_name: str) -> None:
        self.app = app
        self._log_name = log_name
        self.socket: socket.socket | None = None
        self.port: int | None = None

    def bind(self, host: str, port: int) -> int:
        """Open the listening socket now (OSError if the port is taken)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self.socket = sock
        self.port = sock.getsockname()[1]
        return self.port

    def close_socket(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:  # noqa: ANN001
        assert self.socket is not None
        config = hypercorn.config.Config()
        # Hypercorn adopts the descriptor and closes it when it stops.
        config.bind = [f"fd://{self.socket.detach()}"]
        self.socket = None
        config.keep_alive_timeout = IDLE_KEEP_ALIVE
        config.h11_max_incomplete_size = MAX_HEADER_BYTES
        config.accesslog = None
        config.errorlog = logging.getLogger(self._log_name)
        await hypercorn.trio.serve(self.app, config, task_status=task_status)
