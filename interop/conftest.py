import pika
import pytest


@pytest.fixture
def connection(broker):
    """A pika BlockingConnection to the broker under test."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    yield conn
    if conn.is_open:
        conn.close()
