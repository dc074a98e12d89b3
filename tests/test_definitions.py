"""Definitions without a broker process: the model's export and import, and
where amqpd answers differently from RabbitMQ 3.10 (docs/compatibility.md)."""

from __future__ import annotations

import pytest

from amqpd.config import BrokerConfig
from amqpd.model import definitions
from amqpd.model.access import Access, password_matches
from amqpd.model.broker import Broker
from amqpd.model.journal import Journal
from amqpd.testing import BrokerThread
from conformance.http_api import ApiClient


def _broker() -> Broker:
    return Broker(access=Access({"guest": "guest"}, ("/",)), journal=Journal(enabled=True))


def _exchange(name: str, type_: str = "direct", **fields: object) -> dict:
    return {"name": name, "vhost": "/", "type": type_, "durable": True, "auto_delete": False,
            "internal": False, "arguments": {}, **fields}  # fmt: skip


def test_an_export_imports_into_an_empty_broker_and_exports_the_same():
    source = _broker()
    body = {
        "users": [{"name": "app", "password": "pw", "tags": "management"}],
        "vhosts": [{"name": "v"}],
        "permissions": [{"user": "app", "vhost": "v", "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "queues": [{"name": "q", "vhost": "v", "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 5}}],
        "exchanges": [{**_exchange("x", "topic"), "vhost": "v"}],
        "bindings": [{"source": "x", "vhost": "v", "destination": "q",
                      "destination_type": "queue", "routing_key": "a.#", "arguments": {}}],
    }  # fmt: skip
    outcome = definitions.apply(source, body, "guest")
    assert outcome.durable  # the caller waits for the store before answering
    exported = definitions.export(source, "amqpd", "0", "3.10.8")
    target = Broker(access=Access({}, ()), journal=Journal(enabled=True))
    definitions.apply(target, exported, definitions.ACTING_USER)
    assert definitions.export(target, "amqpd", "0", "3.10.8") == exported
    assert password_matches(target.access.users["app"].password_hash, "pw")


def test_an_export_lists_records_in_creation_order():
    broker = _broker()
    definitions.apply(broker, {"exchanges": [_exchange("b"), _exchange("a"), _exchange("c")]}, "g")
    names = [x["name"] for x in definitions.export(broker, "amqpd", "0", "3.10.8")["exchanges"]]
    assert names == ["b", "a", "c"]


def test_the_first_bad_record_in_the_file_is_the_one_reported():
    broker = _broker()
    body = {"exchanges": [_exchange("x1", "first-bad"), _exchange("x2", "second-bad")]}
    with pytest.raises(definitions.DefinitionsError) as refused:
        definitions.apply(broker, body, "guest")
    assert bytes(refused.value.reason[2]) == b"unknown exchange type 'first-bad'"


def test_a_category_that_is_not_a_list_and_an_exchange_without_durable_are_400():
    broker = _broker()
    with pytest.raises(definitions.DefinitionsError) as refused:
        definitions.apply(broker, {"queues": {"q": 1}}, "guest")
    assert refused.value.reason == "queues must be a list"
    with pytest.raises(definitions.DefinitionsError) as refused:
        definitions.apply(broker, {"exchanges": [{"name": "x", "vhost": "/", "type": "direct"}]},
                          "guest")  # fmt: skip
    assert refused.value.reason == "function_clause"


def test_a_vhost_or_global_parameter_without_a_name_is_skipped():
    broker = _broker()
    definitions.apply(broker, {"vhosts": [{"description": "d"}],
                               "global_parameters": [{"value": 1}]}, "guest")  # fmt: skip
    assert list(broker.vhosts) == ["/"] and broker.parameters == {}


def test_a_user_without_a_hashing_algorithm_is_taken_as_sha256_whatever_the_version():
    broker = _broker()
    source = Access({"old": "pw"}, ())
    body = {
        "rabbit_version": "3.5.7",
        "users": [{"name": "old", "password_hash": source.users["old"].password_hash, "tags": ""}],
    }
    definitions.apply(broker, body, "guest")
    assert broker.access.check_password("old", "pw")


def test_a_multipart_upload_is_415(tmp_path):
    with BrokerThread(BrokerConfig(data_dir=str(tmp_path))) as broker:
        api = ApiClient(broker.management_url)
        raw = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="d.json"\r\n\r\n'
               b"{}\r\n--b--\r\n")  # fmt: skip
        multipart = {"content-type": "multipart/form-data; boundary=b"}
        answer = api.request("POST", "/api/definitions", raw=raw, headers=multipart)
        assert answer.status == 415
        answer = api.request("POST", "/api/definitions", raw=b'{"queues": 1}',
                             headers={"content-type": "application/json"})  # fmt: skip
        assert (answer.status, answer.json["reason"]) == (400, "queues must be a list")
