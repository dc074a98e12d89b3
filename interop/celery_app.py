"""The Celery application that interop/test_celery.py runs in a real worker.

The worker (``celery -A interop.celery_app worker``) builds it from the
environment; the tests build the same app in-process with ``make_app`` to send
tasks and read results. Queue names come from the environment so that every run
uses fresh ones.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

BROKER_ENV = "AMQPD_INTEROP_CELERY_BROKER"
DEFAULT_QUEUE_ENV = "AMQPD_INTEROP_CELERY_DEFAULT_QUEUE"
ROUTED_QUEUE_ENV = "AMQPD_INTEROP_CELERY_ROUTED_QUEUE"

# Queues vanish on their own if a run dies before deleting them.
QUEUE_ARGUMENTS = {"x-expires": 300_000}


def task_queue(name: str) -> Queue:
    return Queue(
        name,
        Exchange(name, "direct", durable=False),
        routing_key=name,
        durable=False,
        queue_arguments=QUEUE_ARGUMENTS,
    )


def _describe(request) -> dict:
    info = request.delivery_info or {}
    return {
        "exchange": info.get("exchange"),
        "routing_key": info.get("routing_key"),
        "hostname": request.hostname,
    }


def make_app(broker_url: str, default_queue: str, routed_queue: str) -> Celery:
    app = Celery("interop", broker=broker_url, backend="rpc://")
    app.conf.update(
        task_default_queue=default_queue,
        task_default_exchange=default_queue,
        task_default_routing_key=default_queue,
        task_queues=[task_queue(default_queue), task_queue(routed_queue)],
        task_routes={"interop.where_routed": {"queue": routed_queue}},
        task_create_missing_queues=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"confirm_publish": True},
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        result_persistent=False,
    )

    @app.task(shared=False, name="interop.add")
    def add(x, y):
        return x + y

    @app.task(shared=False, name="interop.where", bind=True)
    def where(self):
        return _describe(self.request)

    @app.task(shared=False, name="interop.where_routed", bind=True)
    def where_routed(self):
        return _describe(self.request)

    @app.task(shared=False, name="interop.stamp")
    def stamp():
        return time.time()

    @app.task(shared=False, name="interop.rate_limited", rate_limit="4/s")
    def rate_limited():
        return time.time()

    @app.task(shared=False, name="interop.flaky", bind=True, max_retries=5)
    def flaky(self, failures: int, countdown: float):
        if self.request.retries < failures:
            raise self.retry(countdown=countdown)
        return {"retries": self.request.retries, "finished": time.time()}

    @app.task(
        shared=False,
        name="interop.crash_once",
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
    )
    def crash_once(self, marker: str):
        # The first run takes its worker process down mid-task: with acks_late the
        # broker still holds the message, and the rejection requeues it.
        path = Path(marker)
        if not path.exists():
            path.write_text("crashed")
            os.kill(os.getpid(), signal.SIGKILL)
        return {"redelivered": bool((self.request.delivery_info or {}).get("redelivered"))}

    @app.task(shared=False, name="interop.block")
    def block(release: str, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while not Path(release).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("never released")
            time.sleep(0.02)
        return "released"

    return app


if os.environ.get(BROKER_ENV):
    app = make_app(
        os.environ[BROKER_ENV], os.environ[DEFAULT_QUEUE_ENV], os.environ[ROUTED_QUEUE_ENV]
    )
