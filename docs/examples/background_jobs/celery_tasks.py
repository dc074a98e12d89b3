"""The welcome email as a Celery task. Run the worker with

    celery -A celery_tasks worker --loglevel=INFO

Celery declares a durable queue (``emails``) and publishes each task as a
persistent message to it. With ``task_acks_late`` the worker acknowledges a task
only after it ran, so a worker killed mid-email leaves the task on the broker
for the next worker; ``worker_prefetch_multiplier=1`` keeps one task per worker
process in hand, so a slow email does not hold others back.
"""

import os

import mailer
from celery import Celery

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("EXAMPLE_PREFIX", "")  # in front of every queue and exchange name

app = Celery("signup", broker=URL)
app.conf.update(
    task_default_queue=PREFIX + "emails",  # also names its direct exchange and routing key
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,  # the web request does not wait for the outcome
    worker_enable_remote_control=False,  # no pidbox queues: only the task queue
    broker_transport_options={"confirm_publish": True},  # delay() returns once queued
    broker_connection_retry_on_startup=True,
)


@app.task(
    name="signup.send_welcome_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_welcome_email(address: str) -> None:
    mailer.send_welcome_email(address)
