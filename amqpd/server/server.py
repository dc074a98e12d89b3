"""The broker process: listeners, the accept loop and graceful shutdown."""

from __future__ import annotations

import errno
import logging
import math
import socket
import time
from pathlib import Path

import trio

from amqpd.config import BrokerConfig
from amqpd.errors import ReplyCode
from amqpd.model.access import Access
from amqpd.model.broker import Broker
from amqpd.model.journal import Journal
from amqpd.model.recovery import Recovered
from amqpd.server import definitions_file
from amqpd.server.connection import ConnectionHandler
from amqpd.server.login import PeerLogin
from amqpd.server.management import ManagementService, node_name
from amqpd.server.metrics import MetricsService
from amqpd.server.resources import ResourceMonitor, total_memory
from amqpd.server.startup import Listener, RecoveryProgress, startup_lines
from amqpd.server.storage import StoreRunner
from amqpd.store.memory import MemoryStore
from amqpd.store.sqlite import SQLiteStore

log = logging.getLogger("amqpd.server")

# Errors accept() raises when the process or system is out of descriptors or
# buffers; the listener backs off instead of dying.
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
SHUTDOWN_GRACE = 5.0
# After a bug in the broker's timers, the pause before they run again (so a
# timer that fails every time does not spin).
TIMER_RETRY = 1.0


class PortInUseError(Exception):
    def __init__(self, bind: str, port: int, flag: str = "--port") -> None:
        super().__init__(f"port {port} on {bind} is already in use")
        self.bind, self.port, self.flag = bind, port, flag


class Server:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        # A definitions file to load says who may log in: no default user then.
        seeded = ({}, ()) if config.load_definitions else (config.users(), config.vhosts)
        self.access = Access(*seeded)
        self.access.loopback_users = config.loopback_users
        self.broker = Broker(
            config.vhosts,
            config.max_message_size,
            clock=trio.current_time,
            consumer_timeout=config.consumer_timeout or None,  # 0: off
            journal=Journal(enabled=True),
            access=self.access,
        )
        self.broker.dispatcher.tracer.node = node_name()  # the firehose's copies name it
        store = MemoryStore() if config.store == "memory" else SQLiteStore(config.data_dir)
        self.storage = StoreRunner(store, self.broker, self.after_broker, self._store_failed)
        self._store_open = False
        self._broker_timer_scope = trio.CancelScope()
        self.resources = ResourceMonitor(
            int(config.memory_high_watermark * total_memory()),
            config.disk_free_limit,
            config.data_dir,
            memory_held=self.broker.memory_held,
        )
        self.settings = config.connection_settings()
        self.handlers: set[ConnectionHandler] = set()
        self.port: int | None = None
        self._stopping = trio.Event()
        self._stopped = trio.Event()
        self._listeners: list[trio.SocketListener] = []
        self.management = ManagementService(self) if config.management_port is not None else None
        self.metrics = MetricsService(self) if config.prometheus_port is not None else None
        self.recovered = Recovered()  # what the store gave back at start-up
        self._starting = time.monotonic()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until ``stop()``; reports the bound port via task_status."""
        listeners = self._listeners or await self.bind()
        self.port = listeners[0].socket.getsockname()[1]
        log.info("amqpd listening on %s:%d", self.config.bind, self.port)
        if self.management is not None:
            self.management.node.listeners = self.management.listeners()
            port = self.management.http.port
            log.info("management API listening on %s:%d", self.config.bind, port)
        if self.metrics is not None:
            port = self.metrics.http.port
            log.info("Prometheus metrics listening on %s:%d", self.config.bind, port)
        try:
            async with trio.open_nursery() as storing:
                storing.start_soon(self.storage.run)
                await self._serve_until_stopped(listeners, task_status)
                storing.cancel_scope.cancel()
            # No connection is left: what is still pending is written now.
            self.storage.flush_and_close()
        finally:
            for listener in listeners:
                with trio.CancelScope(shield=True):
                    await listener.aclose()
            self._stopped.set()
            log.info("amqpd stopped")

    async def _serve_until_stopped(
        self, listeners: list[trio.SocketListener], task_status: trio.TaskStatus[int]
    ) -> None:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                # Stops with the accept loops: a stopping broker runs no timers.
                accepting.start_soon(self._broker_timer)
                accepting.start_soon(self._watch_resources)
                for listener in listeners:
                    accepting.start_soon(self._accept_loop, listener, connections)
                if self.management is not None:
                    await accepting.start(self.management.http.serve)
                if self.metrics is not None:
                    await accepting.start(self.metrics.http.serve)
                self._log_startup()
                task_status.started(self.port)
                await self._stopping.wait()
                accepting.cancel_scope.cancel()
            await self._close_connections(connections)

    def _log_startup(self) -> None:
        """Every listener is up: RabbitMQ's words, then what is served and recovered."""
        bind = self.config.bind
        listeners = [Listener("amqp", bind, self.port or 0)]
        for kind, service in (("management", self.management), ("prometheus", self.metrics)):
            if service is not None:
                listeners.append(Listener(kind, bind, service.http.port or 0))
        memory = self.config.store == "memory"
        folder = None if memory else str(Path(self.config.data_dir).resolve())
        seconds = time.monotonic() - self._starting
        for line in startup_lines(listeners, folder, self.recovered, seconds):
            log.info("%s", line)

    def stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def bind(self) -> list[trio.SocketListener]:
        """Open the listening sockets, then recover the store (clients wait in the
        accept backlog meanwhile); a taken port raises PortInUseError, a store
        that cannot be used StoreError."""
        listeners = await self._open_listeners()
        try:
            self._open_management()
            self._open_metrics()
            self.open_store()
        except BaseException:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            if self.management is not None:
                self.management.http.close_socket()
            if self.metrics is not None:
                self.metrics.http.close_socket()
            raise
        self._listeners = listeners
        return listeners

    def _open_management(self) -> None:
        if self.management is None or self.management.http.port is not None:
            return
        host = "0.0.0.0" if self.config.bind in ("", "*") else self.config.bind
        port = self.config.management_port or 0
        try:
            self.management.http.bind(host, port)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(self.config.bind, port, "--management-port") from None
            raise

    def _open_metrics(self) -> None:
        if self.metrics is None or self.metrics.http.port is not None:
            return
        host = "0.0.0.0" if self.config.bind in ("", "*") else self.config.bind
        port = self.config.prometheus_port or 0
        try:
            self.metrics.http.bind(host, port)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(self.config.bind, port, "--prometheus-port") from None
            raise

    def open_store(self) -> None:
        if not self._store_open:
            # Blocking, but no client is connected yet; a long one logs progress.
            self.recovered = self.storage.open(RecoveryProgress())
            self._store_open = True
            if self.config.load_definitions:  # every start, as a merge, before any client
                definitions_file.load(self.broker, self.config.load_definitions)
            if self.broker.journal.pending:
                # What start-up itself created (the default user and vhost on a
                # first start, imported definitions) is written at once, not with
                # whatever change happens to come next.
                self.storage.poke()

    def _store_failed(self, error: BaseException) -> None:
        # Promises can no longer be kept: stop rather than pretend.
        self.stop()

    async def _open_listeners(self) -> list[trio.SocketListener]:
        host = None if self.config.bind in ("", "*") else self.config.bind
        try:
            return await trio.open_tcp_listeners(self.config.port, host=host)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(self.config.bind, self.config.port) from None
            raise

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as err:
                if err.errno in _ACCEPT_CAPACITY_ERRNOS:
                    log.error("accept failed (%s); backing off", err)
                    await trio.sleep(0.1)
                    continue
                raise
            nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        try:
            stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            host, port = stream.socket.getpeername()[:2]
            peer = f"{host}:{port}"
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        handler = ConnectionHandler(
            stream,
            peer,
            self.settings,
            PeerLogin(self.broker, host, peer),
            self.broker,
            self.config.max_connection_output,
            on_broker_change=self.after_broker,
            alarm=lambda: self.resources.reason,
            store_room=self.storage.room,
        )
        self.handlers.add(handler)
        try:
            await handler.run()
        except Exception:
            # A bug in one connection must not take the broker down with it.
            log.exception("connection %s failed", peer)
        finally:
            self.handlers.discard(handler)

    # ---- the broker's own timers (TTL, expiry, delays, consumer timeouts) ------

    async def _broker_timer(self) -> None:
        while True:
            with self._broker_timer_scope:
                self.broker_changed()
                await trio.sleep_forever()
            self._broker_timer_scope = trio.CancelScope()
            try:
                self.broker.handle_timer(trio.current_time())
            except Exception:
                # A bug in one timer must not stop the others, nor the broker. A
                # connection the bug met while sending closed itself with 541.
                log.exception("internal error running the broker's timers; retrying")
                await trio.sleep(TIMER_RETRY)
            self.after_broker()

    def broker_changed(self) -> None:
        """Point the broker timer at the model's next deadline (it may have moved)."""
        deadline = self.broker.next_deadline()
        self._broker_timer_scope.deadline = math.inf if deadline is None else deadline

    def after_broker(self) -> None:
        """Close the channels the model found at fault, send confirms, re-arm the timer."""
        try:
            faults, self.broker.channel_faults = self.broker.channel_faults, []
            for session, channel, error in faults:
                session.fail_channel(channel, error)
            self.broker.flush()
        except Exception:
            log.exception("internal error after a change in the broker")
        self.broker_changed()
        if self.broker.journal.pending:
            self.storage.poke()

    async def _watch_resources(self) -> None:
        """Raise and clear the memory and disk alarms (a periodic check, as RabbitMQ's)."""
        while True:
            try:
                if self.resources.check():
                    reason = self.resources.reason
                    log.warning("resource alarm %s", f"set: {reason}" if reason else "cleared")
                    for handler in list(self.handlers):
                        handler.set_alarm(reason)
            except Exception:
                log.exception("internal error checking memory and disk; checking again later")
            await trio.sleep(self.config.resource_check_interval)

    async def _close_connections(self, nursery: trio.Nursery) -> None:
        """Send 320 CONNECTION_FORCED to every client and give them time to close."""
        for handler in list(self.handlers):
            handler.shutdown(
                ReplyCode.CONNECTION_FORCED,
                "broker forced connection closure with reason 'shutdown'",
            )
        nursery.cancel_scope.deadline = trio.current_time() + SHUTDOWN_GRACE
