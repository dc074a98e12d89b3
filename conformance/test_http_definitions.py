"""/api/definitions on amqpd and the reference alike: the export's keys, order
and what it leaves out, and what an import does with existing objects, bad
records and bad files."""

from __future__ import annotations

import uuid

import pika
import pytest

from conformance.http_api import ApiClient, path

TOP_KEYS = ["rabbit_version", "rabbitmq_version", "product_name", "product_version", "users",
            "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
            "policies", "queues", "exchanges", "bindings"]  # fmt: skip
VHOST_KEYS = ["rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"]
JSON = {"content-type": "application/json"}


def _name(kind: str) -> str:
    return f"defs-{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def made(api):
    """Unique vhosts, users and global parameters, deleted afterwards."""
    made = {"vhosts": [], "users": [], "global-parameters": []}

    def name(kind: str) -> str:
        found = _name(kind.rstrip("s"))
        made[kind].append(found)
        return found

    def vhost() -> str:
        found = name("vhosts")
        assert api.put(path("vhosts", found), {}).status == 201
        return found

    yield name, vhost
    for kind, names in made.items():
        for found in names:
            api.delete(path(kind, found))


def post(api: ApiClient, body: object, vhost: str | None = None):
    target = path("definitions", vhost) if vhost is not None else "/api/definitions"
    return api.post(target, body)


def queue(name: str, vhost: str, durable: bool = True, **arguments: object) -> dict:
    return {"name": name, "vhost": vhost, "durable": durable, "auto_delete": False,
            "arguments": arguments}  # fmt: skip


def exchange(name: str, vhost: str, type_: str = "direct") -> dict:
    return {"name": name, "vhost": vhost, "type": type_, "durable": True, "auto_delete": False,
            "internal": False, "arguments": {}}  # fmt: skip


def _mine(items: list[dict], vhost: str) -> list[dict]:
    return [i for i in items if i.get("vhost") == vhost]


# ---- export -------------------------------------------------------------------------


def test_the_export_has_rabbitmqs_keys_in_its_order_and_each_records_fields(api, made):
    _name_of, vhost = made
    v = vhost()
    api.put(path("queues", v, "q1"), {"durable": True, "arguments": {"x-max-length": 3}})
    api.put(path("exchanges", v, "x1"), {"type": "topic", "durable": True})
    api.post(path("bindings", v, "e", "x1", "q", "q1"), {"routing_key": "a.b"})
    api.post(path("bindings", v, "e", "amq.topic", "e", "x1"), {"routing_key": "r"})
    api.put(path("policies", v, "p1"), {"pattern": "^q", "definition": {"message-ttl": 5},
                                       "priority": 1, "apply-to": "queues"})  # fmt: skip
    api.put(path("vhost-limits", v, "max-queues"), {"value": 7})
    body = api.get("/api/definitions").json
    assert list(body) == TOP_KEYS
    assert body["rabbit_version"] == body["rabbitmq_version"] == "3.10.8"
    assert {"name": v} in body["vhosts"]
    assert _mine(body["permissions"], v) == [
        {"user": "guest", "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}
    ]
    assert _mine(body["parameters"], v) == [
        {"value": {"max-queues": 7}, "vhost": v, "component": "vhost-limits", "name": "limits"}
    ]
    assert _mine(body["policies"], v) == [
        {"vhost": v, "name": "p1", "pattern": "^q", "apply-to": "queues",
         "definition": {"message-ttl": 5}, "priority": 1}
    ]  # fmt: skip
    assert _mine(body["queues"], v) == [queue("q1", v, **{"x-max-length": 3})]
    assert _mine(body["exchanges"], v) == [exchange("x1", v, "topic")]
    assert sorted(_mine(body["bindings"], v), key=lambda b: b["source"]) == [
        {"source": "amq.topic", "vhost": v, "destination": "x1", "destination_type": "exchange",
         "routing_key": "r", "arguments": {}},
        {"source": "x1", "vhost": v, "destination": "q1", "destination_type": "queue",
         "routing_key": "a.b", "arguments": {}},
    ]  # fmt: skip
    guest = next(u for u in body["users"] if u["name"] == "guest")
    assert list(guest) == ["name", "password_hash", "hashing_algorithm", "tags", "limits"]


def test_exclusive_queues_the_default_and_amq_exchanges_are_not_exported(api, api_target, made):
    _name_of, vhost = made
    v = vhost()
    params = pika.URLParameters(api_target.broker.url)
    params.virtual_host = v
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare("mine", exclusive=True)
        channel.queue_declare("shared", durable=False)
        channel.queue_bind("mine", "amq.direct", "k")
        body = api.get("/api/definitions").json
        assert [q["name"] for q in _mine(body["queues"], v)] == ["shared"]
        assert _mine(body["exchanges"], v) == []
        assert _mine(body["bindings"], v) == []
    finally:
        connection.close()


def test_one_vhosts_export_drops_the_vhost_key_from_queues_exchanges_and_bindings(api, made):
    _name_of, vhost = made
    v = vhost()
    api.put(path("queues", v, "q1"), {"durable": False})
    api.put(path("exchanges", v, "x1"), {"type": "fanout", "durable": True})
    api.post(path("bindings", v, "e", "x1", "q", "q1"), {"routing_key": "k"})
    answer = api.get(path("definitions", v))
    assert answer.status == 200
    body = answer.json
    assert list(body) == VHOST_KEYS
    assert body["queues"] == [{"name": "q1", "durable": False, "auto_delete": False,
                               "arguments": {}}]  # fmt: skip
    x1 = {"name": "x1", "type": "fanout", "durable": True, "auto_delete": False,
          "internal": False, "arguments": {}}  # fmt: skip
    assert body["exchanges"] == [x1]
    assert body["bindings"] == [{"source": "x1", "destination": "q1", "destination_type": "queue",
                                 "routing_key": "k", "arguments": {}}]  # fmt: skip


def test_download_names_the_file_in_content_disposition(api, made):
    _name_of, vhost = made
    v = vhost()
    for target in (
        "/api/definitions?download=all.json",
        path("definitions", v) + "?download=v.json",
    ):
        answer = api.get(target)
        assert answer.status == 200
        name = target.rsplit("=", 1)[1]
        assert answer.headers["content-disposition"] == f"attachment; filename={name}"
    assert "content-disposition" not in api.get("/api/definitions").headers


def test_an_unknown_vhost_is_400_to_export_and_404_to_import(api):
    assert api.get(path("definitions", "no-such-vhost")).json == \
        {"error": "bad_request", "reason": "vhost_not_found"}  # fmt: skip
    answer = post(api, {}, "no-such-vhost")
    assert (answer.status, answer.json) == (404, {"error": "not_found",
                                                  "reason": "vhost_not_found"})  # fmt: skip


def test_definitions_are_for_administrators_only(api, made):
    name, _vhost = made
    user = name("users")
    api.put(path("users", user), {"password": "pw", "tags": "monitoring"})
    other = api.as_user(user, "pw")
    for answer in (other.get("/api/definitions"), other.post("/api/definitions", {})):
        refused = {"error": "not_authorised", "reason": "Not administrator user"}
        assert (answer.status, answer.json) == (401, refused)


# ---- bad files ----------------------------------------------------------------------


def test_a_body_that_is_not_a_json_object_is_failed_to_parse_json(api):
    for raw in (b"{x", b"[1]", b'"text"'):
        answer = api.request("POST", "/api/definitions", raw=raw, headers=JSON)
        refused = {"error": "bad_request", "reason": "failed_to_parse_json"}
        assert (answer.status, answer.json) == (400, refused)


def test_without_a_json_content_type_the_import_is_415(api):
    for headers in ({}, {"content-type": "text/plain"}):
        answer = api.request("POST", "/api/definitions", raw=b"{}", headers=headers)
        assert answer.status == 415


def test_an_empty_file_imports_nothing(api):
    assert api.request("POST", "/api/definitions", raw=b"", headers=JSON).status == 204
    assert post(api, {}).status == 204
    assert post(api, {"unknown_key": [1]}).status == 204


# ---- import -------------------------------------------------------------------------


def test_an_import_creates_vhosts_users_permissions_and_topology(api, api_target, made):
    name, _vhost = made
    v, user = name("vhosts"), name("users")
    body = {
        "users": [{"name": user, "password": "s3cret", "tags": "management"}],
        "vhosts": [{"name": v}],
        "permissions": [{"user": user, "vhost": v, "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "topic_permissions": [{"user": user, "vhost": v, "exchange": "x1", "write": "^a",
                               "read": ".*"}],
        "policies": [{"vhost": v, "name": "p1", "pattern": "^q", "apply-to": "queues",
                      "definition": {"max-length": 10}, "priority": 0}],
        "parameters": [{"vhost": v, "component": "vhost-limits", "name": "limits",
                        "value": {"max-connections": 10}}],
        "queues": [queue("q1", v)],
        "exchanges": [exchange("x1", v, "topic")],
        "bindings": [{"source": "x1", "vhost": v, "destination": "q1",
                      "destination_type": "queue", "routing_key": "a.#", "arguments": {}}],
    }  # fmt: skip
    assert post(api, body).status == 204
    assert api.get(path("users", user)).json["tags"] == ["management"]
    assert api.get(path("queues", v, "q1")).json["durable"] is True
    assert api.get(path("exchanges", v, "x1")).json["type"] == "topic"
    assert api.get(path("policies", v, "p1")).json["definition"] == {"max-length": 10}
    limits = [{"vhost": v, "value": {"max-connections": 10}}]
    assert api.get(path("vhost-limits", v)).json == limits
    assert api.get(path("topic-permissions", v, user)).json[0]["write"] == "^a"
    # the acting user gets full permissions on a vhost the import created
    assert api.get(path("permissions", v, "guest")).json["configure"] == ".*"
    params = pika.URLParameters(api_target.broker.url)
    params.virtual_host, params.credentials = v, pika.PlainCredentials(user, "s3cret")
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.basic_publish("x1", "a.b", b"routed")
        for _ in range(50):
            method, _props, got = channel.basic_get("q1", auto_ack=True)
            if method is not None:
                break
            connection.sleep(0.02)
        assert got == b"routed"
    finally:
        connection.close()


def test_an_existing_queue_or_exchange_is_left_as_it_is(api, made):
    _name_of, vhost = made
    v = vhost()
    api.put(path("queues", v, "q1"), {"durable": True, "arguments": {"x-max-length": 3}})
    api.put(path("exchanges", v, "x1"), {"type": "fanout"})
    body = {"queues": [queue("q1", v, False, **{"x-max-length": 99})],
            "exchanges": [exchange("x1", v, "topic")]}  # fmt: skip
    assert post(api, body).status == 204
    q = api.get(path("queues", v, "q1")).json
    assert (q["durable"], q["arguments"]) == (True, {"x-max-length": 3})
    assert api.get(path("exchanges", v, "x1")).json["type"] == "fanout"


def test_a_binding_whose_source_or_destination_is_missing_is_skipped(api, made):
    _name_of, vhost = made
    v = vhost()
    api.put(path("queues", v, "q1"), {"durable": True})
    bindings = [
        {"source": "nope", "vhost": v, "destination": "q1", "destination_type": "queue",
         "routing_key": "", "arguments": {}},
        {"source": "amq.direct", "vhost": v, "destination": "nope", "destination_type": "queue",
         "routing_key": "", "arguments": {}},
    ]  # fmt: skip
    assert post(api, {"bindings": bindings}).status == 204
    assert api.get(path("queues", v, "q1", "bindings")).json[1:] == []


def test_a_bad_record_stops_the_import_and_what_came_before_it_stays(api, made):
    _name_of, vhost = made
    v = vhost()
    body = {
        "exchanges": [exchange("xa", v), exchange("xb", v), exchange("xc", v, "nosuch"),
                      exchange("xd", v)],
        "queues": [queue("after", v)],
    }  # fmt: skip
    answer = post(api, body)
    text = "unknown exchange type 'nosuch'"
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": ["amqp_error", "command_invalid", [ord(c) for c in text], "none"],
    })  # fmt: skip
    names = {x["name"] for x in api.get(path("exchanges", v)).json}
    # RabbitMQ imports a category's records all at once: xd, after the bad one, too.
    assert {"xa", "xb", "xd"} <= names and "xc" not in names
    assert api.get(path("queues", v, "after")).status == 404


def test_records_naming_an_unknown_vhost_or_user_are_refused_with_erlang_terms(api, made):
    _name_of, vhost = made
    v = vhost()
    cases = [
        ({"queues": [queue("q", "no-such-vhost")]}, ["no_such_vhost", "no-such-vhost"]),
        ({"exchanges": [exchange("x", "no-such-vhost")]}, ["no_such_vhost", "no-such-vhost"]),
        ({"permissions": [{"user": "no-such-user", "vhost": "no-such-vhost", "configure": ".*",
                           "write": ".*", "read": ".*"}]}, ["no_such_user", "no-such-user"]),
        ({"permissions": [{"user": "guest", "vhost": "no-such-vhost", "configure": ".*",
                           "write": ".*", "read": ".*"}]}, ["no_such_vhost", "no-such-vhost"]),
        ({"permissions": [{"user": "guest", "vhost": v, "configure": "(", "write": ".*",
                           "read": ".*"}]},
         ["invalid_regexp", [ord("(")], [[ord(c) for c in "missing )"], 1]]),
        ({"queues": [{"name": "q", "vhost": v}]}, "function_clause"),
        ({"users": [{"password": "x", "tags": ""}]}, ["badkey", "name"]),
        ({"users": [{"name": "u", "password": "x"}]}, "tags_not_present"),
        ({"users": [{"name": "u", "password_hash": "!!!", "tags": ""}]}, ["not_base64", "!!!"]),
    ]  # fmt: skip
    for body, reason in cases:
        answer = post(api, body)
        assert (answer.status, answer.json) == (400, {"error": "bad_request",
                                                      "reason": reason}), body  # fmt: skip


def test_bad_policies_and_parameters_get_their_validation_text_and_where(api, made):
    _name_of, vhost = made
    v = vhost()
    cases = [
        ({"policies": [{"vhost": v, "name": "bp", "pattern": "^q", "apply-to": "queues",
                        "definition": {"message-ttl": -5}, "priority": 0}]},
         f"Validation failed\n\n-5 is not a valid message TTL\n ({v}/bp)"),
        ({"policies": [{"vhost": v, "name": "np", "definition": {"message-ttl": 1}}]},
         f"Validation failed\n\npattern should be a binary but was undefined\n ({v}/np)"),
        ({"policies": [{"vhost": v, "pattern": "x", "definition": {}}]},
         f"policy in virtual host '{v}' has undefined name"),
        ({"parameters": [{"vhost": v, "component": "federation-upstream", "name": "u",
                          "value": {"uri": "amqp://"}}]},
         f"Validation failed\n\ncomponent federation-upstream not found\n "
         f"({v}/federation-upstream/u)"),
    ]  # fmt: skip
    for body, reason in cases:
        answer = post(api, body)
        assert (answer.status, answer.json) == (400, {"error": "bad_request",
                                                      "reason": reason}), body  # fmt: skip


def test_the_queue_limit_is_checked_before_anything_is_imported(api, made):
    name, vhost = made
    v, user = vhost(), name("users")
    api.put(path("vhost-limits", v, "max-queues"), {"value": 1})
    body = {"users": [{"name": user, "password": "x", "tags": ""}],
            "permissions": [{"user": user, "vhost": v, "configure": ".*", "write": ".*",
                             "read": ".*"}],
            "queues": [queue("q1", v), queue("q2", v)]}  # fmt: skip
    answer = post(api, body)
    text = (
        f'Adding 2 queue(s) to virtual host "{v}" would exceed the limit of 1 queue(s).'
        "\n\nThis virtual host currently has 0 queue(s) defined.\n\nImport aborted!"
    )
    reason = ["vhost_limit_exceeded", [ord(c) for c in text]]
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})
    assert api.get(path("users", user)).status == 200  # users came before the check
    assert api.get(path("permissions", v, user)).status == 404
    assert api.get(path("queues", v)).json == []


def test_users_come_with_a_password_hash_or_a_password(api, api_target, made):
    name, _vhost = made
    hashed, plain = name("users"), name("users")
    # "s3cret" salted and hashed as rabbit_password_hashing_sha256 hashes it
    password_hash = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    body = {"users": [
        {"name": hashed, "password_hash": password_hash, "tags": ["management"]},
        {"name": plain, "password": "other", "tags": "management,monitoring"},
    ]}  # fmt: skip
    assert post(api, body).status == 204
    shown = api.get(path("users", hashed)).json
    assert (shown["password_hash"], shown["hashing_algorithm"]) == \
        (password_hash, "rabbit_password_hashing_sha256")  # fmt: skip
    assert api.get(path("users", plain)).json["tags"] == ["management", "monitoring"]
    assert api.as_user(plain, "other").get("/api/whoami").status == 200
    both = {"users": [{"name": plain, "password": "a", "password_hash": password_hash,
                       "tags": ""}]}  # fmt: skip
    assert post(api, both).json["reason"] == "both_password_and_password_hash_are_provided"


def test_a_vhost_import_ignores_other_vhosts_and_words_its_errors_as_text(api, made):
    _name_of, vhost = made
    v = vhost()
    body = {"users": [{"name": "ignored", "password": "x", "tags": ""}],
            "queues": [{"name": "qv", "vhost": "elsewhere", "durable": True,
                        "auto_delete": False, "arguments": {}}]}  # fmt: skip
    assert post(api, body, v).status == 204
    assert api.get(path("queues", v, "qv")).status == 200
    assert api.get(path("users", "ignored")).status == 404
    cases = [
        ({"exchanges": [{"name": "xg", "type": "nosuch", "durable": True, "auto_delete": False,
                         "internal": False, "arguments": {}}]},
         "command_invalid: unknown exchange type 'nosuch'"),
        ({"queues": [{"name": "qb", "durable": True, "auto_delete": False,
                      "arguments": {"x-max-length": "x"}}]},
         f"precondition_failed: invalid arg 'x-max-length' for queue 'qb' in vhost '{v}': "
         '"expected integer, got longstr"'),
        ({"policies": [{"name": "bp", "pattern": "^q", "apply-to": "queues",
                        "definition": {"message-ttl": -5}, "priority": 0}]},
         f'<<"Validation failed\\n\\n-5 is not a valid message TTL\\n ({v}/bp)">>'),
    ]  # fmt: skip
    for body, reason in cases:
        answer = post(api, body, v)
        assert (answer.status, answer.json) == (400, {"error": "bad_request",
                                                      "reason": reason}), body  # fmt: skip


def test_operator_policies_and_limits_travel_as_parameters(api, made):
    _name_of, vhost = made
    v = vhost()
    api.put(path("vhost-limits", v, "max-connections"), {"value": 3})
    body = {"parameters": [
        {"vhost": v, "component": "vhost-limits", "name": "limits", "value": {"max-queues": 4}},
        {"vhost": v, "component": "operator_policy", "name": "op", "value": {
            "pattern": "x", "definition": {"max-length": 1}, "priority": 0,
            "apply-to": "queues"}},
    ]}  # fmt: skip
    assert post(api, body).status == 204
    # the file's limits replace the vhost's
    assert api.get(path("vhost-limits", v)).json == [{"vhost": v, "value": {"max-queues": 4}}]
    assert api.get(path("operator-policies", v)).json == [
        {"vhost": v, "name": "op", "pattern": "x", "apply-to": "queues",
         "definition": {"max-length": 1}, "priority": 0}]  # fmt: skip
    exported = _mine(api.get("/api/definitions").json["parameters"], v)
    assert sorted(p["component"] for p in exported) == ["operator_policy", "vhost-limits"]


def test_an_import_of_an_existing_vhost_resets_its_description(api, made):
    name, _vhost = made
    v = name("vhosts")
    api.put(path("vhosts", v), {"description": "keep", "tags": "t"})
    assert post(api, {"vhosts": [{"name": v}]}).status == 204
    shown = api.get(path("vhosts", v)).json
    assert (shown["description"], shown["tags"]) == ("", [])
    assert post(api, {"vhosts": [{"name": v, "description": "d", "tags": ["a"]}]}).status == 204
    shown = api.get(path("vhosts", v)).json
    assert (shown["description"], shown["tags"]) == ("d", ["a"])
