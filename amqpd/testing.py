"""Run amqpd inside a test suite.

``BrokerThread`` runs a broker on an ephemeral port of 127.0.0.1, in a background thread with its
own Trio loop, so synchronous (pika) and asyncio (aio-pika) clients can use it. The pytest
plugin in ``amqpd.pytest_plugin`` wraps it in the ``amqpd_broker`` fixture.
"""

from __future__ import annotations

import threading

import trio

from amqpd.config import BrokerConfig
from amqpd.server.server import Server


class BrokerThread:
    """An amqpd broker serving from a daemon thread until ``stop()``.

    ``clock``: a Trio clock for the broker's loop. With
    ``trio.testing.MockClock(autojump_threshold=...)`` the broker's time jumps to
    its next deadline whenever it is idle, so an hour-long TTL or delay passes in
    a moment. Clients should then turn heartbeats off (their time does not
    jump), and ``resource_check_interval`` should be long, or the clock only
    jumps from one resource check to the next.
    """

    def __init__(
        self,
        config: BrokerConfig | None = None,
        clock: trio.abc.Clock | None = None,
        port: int = 0,
    ) -> None:
        self.clock = clock
        # port 0: an ephemeral one; a restart test passes the old one again.
        self.config = (config or BrokerConfig()).replace(bind="127.0.0.1", port=port)
        if self.config.management_port is not None:
            self.config = self.config.replace(management_port=0)  # a free one
        if self.config.prometheus_port is not None:
            self.config = self.config.replace(prometheus_port=0)
        self.host = "127.0.0.1"
        self.port = 0
        self._server: Server | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="amqpd-broker", daemon=True)

    @property
    def url(self) -> str:
        user, password = self.config.default_user, self.config.default_pass
        return f"amqp://{user}:{password}@{self.host}:{self.port}/%2F"

    @property
    def management_url(self) -> str:
        """The management API, http://user:pass@host:port (its port picked at start)."""
        assert self._server is not None and self._server.management is not None
        user, password = self.config.default_user, self.config.default_pass
        return f"http://{user}:{password}@{self.host}:{self._server.management.http.port}"

    @property
    def prometheus_url(self) -> str:
        """The Prometheus endpoint, http://host:port (its port picked at start)."""
        assert self._server is not None and self._server.metrics is not None
        return f"http://{self.host}:{self._server.metrics.http.port}"

    def start(self) -> BrokerThread:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("amqpd did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("amqpd failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._server is not None and self._token is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self._server.stop, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=30)

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            trio.run(self._main, clock=self.clock)
        except BaseException as err:  # reported to start() or lost with the thread
            while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
                err = err.exceptions[0]  # the nursery's wrapping hides what went wrong
            self._error = err
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._server = Server(self.config)
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(self._server.run)
            self._ready.set()
