"""amqpd's own answers about clients where RabbitMQ's are a crash (docs/compatibility.md)."""

from __future__ import annotations

from conformance.http_api import ApiClient


def test_the_channels_of_an_unknown_connection_are_404_not_500(amqpd_broker):
    api = ApiClient(amqpd_broker.management_url)
    answer = api.get("/api/connections/no-such-connection/channels")
    assert (answer.status, answer.json) == (404, {"error": "Object Not Found",
                                                  "reason": "Not Found"})  # fmt: skip
