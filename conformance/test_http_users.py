"""Users, vhosts, permissions, topic permissions and vhost limits through the
management API, on amqpd and the reference alike: statuses, bodies, refusals."""

from __future__ import annotations

import time
import uuid

import pika
import pytest

from conformance.http_api import ApiClient, path
from conformance.rawclient import RawClient

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


@pytest.fixture
def api(api_target):
    return ApiClient(api_target.url)


@pytest.fixture
def made(api):
    """Unique user and vhost names, deleted afterwards."""
    users: list[str] = []
    vhosts: list[str] = []

    def user(password: str | None = "pw", tags: str = "") -> str:
        name = f"http-user-{uuid.uuid4().hex[:8]}"
        users.append(name)
        if password is not None:
            assert api.put(path("users", name), {"password": password, "tags": tags}).status == 201
        return name

    def vhost(create: bool = True) -> str:
        name = f"http-vhost-{uuid.uuid4().hex[:8]}"
        vhosts.append(name)
        if create:
            assert api.put(path("vhosts", name), {}).status == 201
        return name

    yield user, vhost
    for name in users:
        api.delete(path("users", name))
    for name in vhosts:
        api.delete(path("vhosts", name))


# ---- users ------------------------------------------------------------------------


def test_a_user_is_created_201_then_updated_204_and_shows_its_hash_not_its_password(api, made):
    user, _vhost = made
    name = user(None)
    assert api.put(path("users", name), {"password": "s3cret", "tags": "management, foo"}).status \
        == 201  # fmt: skip
    assert api.put(path("users", name), {"password": "s3cret", "tags": ["monitoring"]}).status \
        == 204  # fmt: skip
    body = api.get(path("users", name)).json
    assert set(body) == {"name", "password_hash", "hashing_algorithm", "tags", "limits"}
    assert body["tags"] == ["monitoring"] and body["limits"] == {}
    assert body["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert "s3cret" not in repr(api.get("/api/users").json)
    assert name in [u["name"] for u in api.get("/api/users").json]


def test_tags_as_a_string_drop_spaces_and_empty_items(api, made):
    user, _vhost = made
    name = user(None)
    api.put(path("users", name), {"password": "x", "tags": "management, foo ,,bar"})
    assert api.get(path("users", name)).json["tags"] == ["management", "foo", "bar"]


def test_the_new_password_logs_in_over_http_and_amqp(api, api_target, made):
    user, _vhost = made
    name = user("first", "management")
    api.put(path("users", name), {"password": "second", "tags": "management"})
    assert api.as_user(name, "first").get("/api/whoami").status == 401
    whoami = api.as_user(name, "second").get("/api/whoami")
    assert whoami.status == 200 and whoami.json == {"name": name, "tags": ["management"]}


def test_a_password_hash_moves_between_brokers(api, made):
    user, _vhost = made
    first, second = user("same", "management"), user(None)
    password_hash = api.get(path("users", first)).json["password_hash"]
    assert api.put(path("users", second), {"password_hash": password_hash,
                                           "tags": "management"}).status == 201  # fmt: skip
    assert api.as_user(second, "same").get("/api/whoami").status == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "tags_not_present"),
        ({"password": "x"}, "tags_not_present"),
        ({"password": "x", "password_hash": "abc", "tags": ""},
         "both_password_and_password_hash_are_provided"),
        ({"password_hash": "abc", "tags": ""}, ["not_base64", "abc"]),
    ],
)  # fmt: skip
def test_a_bad_user_body_is_400_and_creates_nothing(api, made, body, reason):
    user, _vhost = made
    name = user(None)
    answer = api.put(path("users", name), body)
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})
    assert api.get(path("users", name)).status == 404


def test_tags_alone_clear_an_existing_users_password(api, made):
    user, _vhost = made
    name = user("pw", "management")
    assert api.put(path("users", name), {"tags": "management"}).status == 204
    assert api.get(path("users", name)).json["password_hash"] == ""
    assert api.as_user(name, "pw").get("/api/whoami").status == 401


def test_deleting_a_user_is_204_then_404(api, made):
    user, _vhost = made
    name = user()
    assert api.delete(path("users", name)).status == 204
    for answer in (api.delete(path("users", name)), api.get(path("users", name)),
                   api.get(path("users", name, "permissions"))):  # fmt: skip
        assert (answer.status, answer.json) == (404, NOT_FOUND)


def test_bulk_delete_stops_at_an_unknown_user(api, made):
    user, _vhost = made
    first, second = user(), user()
    answer = api.post("/api/users/bulk-delete", {"users": [first, "no-such-user-x", second]})
    assert (answer.status, answer.json) == (
        400, {"error": "bad_request", "reason": ["no_such_user", "no-such-user-x"]})  # fmt: skip
    assert api.get(path("users", first)).status == 404
    assert api.get(path("users", second)).status == 200
    assert api.post("/api/users/bulk-delete", {"users": [second]}).status == 204
    assert api.get(path("users", second)).status == 404


def test_users_without_permissions_are_listed(api, made):
    user, _vhost = made
    name = user()
    assert name in [u["name"] for u in api.get("/api/users/without-permissions").json]
    api.put(path("permissions", "/", name), {"configure": "", "write": "", "read": ""})
    assert name not in [u["name"] for u in api.get("/api/users/without-permissions").json]


def test_only_administrators_see_users_and_permissions(api, made):
    user, _vhost = made
    name = user("pw", "monitoring")
    other = api.as_user(name, "pw")
    for target in ("/api/users", path("users", name), "/api/permissions",
                   "/api/topic-permissions", path("vhosts", "/", "permissions")):  # fmt: skip
        answer = other.get(target)
        assert (answer.status, answer.json) == (
            401, {"error": "not_authorised", "reason": "Not administrator user"})  # fmt: skip
    answer = other.put(path("vhosts", f"never-{uuid.uuid4().hex[:6]}"), {})
    assert answer.status == 401


# ---- permissions --------------------------------------------------------------------


def test_permissions_are_set_201_then_204_shown_and_deleted(api, made):
    user, vhost = made
    name, where = user(), vhost()
    body = {"configure": "^a", "write": ".*", "read": ""}
    assert api.put(path("permissions", where, name), body).status == 201
    assert api.put(path("permissions", where, name), body).status == 204
    expected = {"user": name, "vhost": where, **body}
    assert api.get(path("permissions", where, name)).json == expected
    assert api.get(path("users", name, "permissions")).json == [expected]
    assert expected in api.get("/api/permissions").json
    assert expected in api.get(path("vhosts", where, "permissions")).json
    assert api.delete(path("permissions", where, name)).status == 204
    answer = api.delete(path("permissions", where, name))
    assert (answer.status, answer.json) == (404, NOT_FOUND)


def test_an_invalid_pattern_is_400_with_pcres_words(api, made):
    user, vhost = made
    name, where = user(), vhost()
    answer = api.put(path("permissions", where, name),
                     {"configure": "(", "write": ".*", "read": ".*"})  # fmt: skip
    assert (answer.status, answer.json) == (400, {
        "error": "bad_request",
        "reason": ["invalid_regexp", [40], [[ord(c) for c in "missing )"], 1]],
    })  # fmt: skip
    assert api.get(path("permissions", where, name)).status == 404


def test_a_missing_key_or_unknown_user_or_vhost_is_400(api, made):
    user, vhost = made
    name, where = user(), vhost()
    answer = api.put(path("permissions", where, name), {"configure": "^a", "write": ".*"})
    assert (answer.status, answer.json) == (
        400, {"error": "bad_request", "reason": "[{key_missing,read}]"})  # fmt: skip
    body = {"configure": ".*", "write": ".*", "read": ".*"}
    for target in (path("permissions", "no-such-vhost-x", name),
                   path("permissions", where, "no-such-user-x")):  # fmt: skip
        answer = api.put(target, body)
        assert (answer.status, answer.json) == (
            400, {"error": "bad_request", "reason": "vhost_or_user_not_found"})  # fmt: skip


def test_topic_permissions_are_set_shown_and_deleted(api, made):
    user, vhost = made
    name, where = user(), vhost()
    body = {"exchange": "amq.topic", "write": "^a", "read": "^b"}
    assert api.put(path("topic-permissions", where, name), body).status == 201
    assert api.put(path("topic-permissions", where, name), body).status == 204
    expected = {"user": name, "vhost": where, **body}
    assert api.get(path("topic-permissions", where, name)).json == [expected]
    assert expected in api.get("/api/topic-permissions").json
    assert api.get(path("users", name, "topic-permissions")).json == [expected]
    assert api.get(path("vhosts", where, "topic-permissions")).json == [expected]
    answer = api.put(path("topic-permissions", where, name),
                     {"exchange": "t2", "write": "(", "read": ""})  # fmt: skip
    assert answer.json == {
        "error": "bad_request",
        "reason": ["invalid_regexp", "(", [[ord(c) for c in "missing )"], 1]],
    }
    answer = api.put(path("topic-permissions", where, name), {"write": "", "read": ""})
    assert answer.json == {"error": "bad_request", "reason": "[{key_missing,exchange}]"}
    assert api.delete(path("topic-permissions", where, name)).status == 204
    assert api.get(path("topic-permissions", where, name)).status == 404


# ---- vhosts -------------------------------------------------------------------------


def test_a_vhost_is_created_with_its_creator_holding_full_permissions(api, made):
    _user, vhost = made
    name = vhost(create=False)
    assert api.put(path("vhosts", name), {"description": "d1", "tags": "a,b"}).status == 201
    body = api.get(path("vhosts", name)).json
    assert (body["name"], body["description"], body["tags"]) == (name, "d1", ["a", "b"])
    assert body["metadata"] == {"description": "d1", "tags": ["a", "b"]}
    assert api.put(path("vhosts", name), {"description": "d2"}).status == 204
    body = api.get(path("vhosts", name)).json
    assert (body["description"], body["tags"]) == ("d2", [])
    assert api.get(path("vhosts", name, "permissions")).json == [
        {"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}
    ]


def test_deleting_a_vhost_closes_its_connections_and_removes_what_it_held(api, api_target, made):
    _user, vhost = made
    name = vhost()
    api.put(path("queues", name, "held"), {"durable": True})
    client = RawClient(api_target.broker.host, api_target.broker.port)
    try:
        client.handshake(vhost=name)
        client.open_channel(1)
        assert api.delete(path("vhosts", name)).status == 204
        code, text, _class, _method = client.expect_connection_error(timeout=10)
        assert (code, text) == (320, f"CONNECTION_FORCED - vhost '{name}' is deleted")
    finally:
        client.close()
    for target in (path("vhosts", name), path("queues", name, "held"),
                   path("vhosts", name, "permissions")):  # fmt: skip
        assert api.get(target).status == 404
    assert api.delete(path("vhosts", name)).status == 404
    # A vhost of the same name starts empty.
    assert api.put(path("vhosts", name), {}).status == 201
    assert api.get(path("queues", name, "held")).status == 404


def test_a_new_vhost_is_open_to_amqp_at_once(api, api_target, made):
    _user, vhost = made
    name = vhost()
    url = api_target.broker.url_with(vhost=name)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_declare("in-new-vhost", exclusive=True)
    finally:
        connection.close()


# ---- vhost limits -------------------------------------------------------------------


def test_vhost_limits_are_set_listed_and_cleared(api, made):
    _user, vhost = made
    name = vhost()
    assert api.put(path("vhost-limits", name, "max-connections"), {"value": 2}).status == 204
    assert api.put(path("vhost-limits", name, "max-queues"), {"value": 1}).status == 204
    expected = [{"vhost": name, "value": {"max-connections": 2, "max-queues": 1}}]
    assert api.get(path("vhost-limits", name)).json == expected
    assert expected[0] in api.get("/api/vhost-limits").json
    assert api.delete(path("vhost-limits", name, "max-queues")).status == 204
    assert api.delete(path("vhost-limits", name, "max-queues")).status == 204
    assert api.get(path("vhost-limits", name)).json == [
        {"vhost": name, "value": {"max-connections": 2}}
    ]
    assert api.get(path("vhost-limits", "no-such-vhost-x")).status == 404


@pytest.mark.parametrize(
    ("limit", "value", "reason"),
    [
        ("max-queues", "x",
         'Validation failed\n\nmax-queues should be a number, actually was <<"x">>\n'),
        ("max-foo", 1,
         'Validation failed\n\nUnrecognised terms [{<<"max-foo">>,1}] in limits\n'),
    ],
)  # fmt: skip
def test_a_bad_limit_is_400_with_rabbitmqs_validation_text(api, made, limit, value, reason):
    _user, vhost = made
    name = vhost()
    answer = api.put(path("vhost-limits", name, limit), {"value": value})
    assert (answer.status, answer.json) == (400, {"error": "bad_request", "reason": reason})


def test_a_connection_limit_refuses_the_next_connection(api, api_target, made):
    _user, vhost = made
    name = vhost()
    api.put(path("vhost-limits", name, "max-connections"), {"value": 1})
    url = api_target.broker.url_with(vhost=name)
    first = pika.BlockingConnection(pika.URLParameters(url))
    try:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
            _connect_until_refused(url)
        assert str(refused.value) == (
            'ConnectionClosedByBroker: (530) "NOT_ALLOWED - access to vhost '
            f"'{name}' refused for user 'guest': connection limit (1) is reached\""
        )
    finally:
        first.close()


def _connect_until_refused(url: str, timeout: float = 10.0) -> None:
    """RabbitMQ counts connections a moment late: retry until the limit shows."""
    deadline = time.monotonic() + timeout
    while True:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        connection.close()
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


# ---- what each tag may see ------------------------------------------------------------


def test_tags_decide_which_vhosts_and_objects_a_user_sees(api, made):
    user, vhost = made
    where = vhost()
    api.put(path("queues", where, "seen"), {"durable": False})
    permitted, outsider = user("pw", "management"), user("pw", "monitoring")
    watcher = user("pw", "monitoring")
    for name in (permitted, watcher):
        api.put(path("permissions", where, name), {"configure": "", "write": "", "read": ""})
    names = lambda answer: [item["name"] for item in answer.json]  # noqa: E731
    # management: only the vhosts it has permissions in; monitoring: every vhost's name.
    assert names(api.as_user(permitted, "pw").get("/api/vhosts")) == [where]
    assert {"/", where} <= set(names(api.as_user(outsider, "pw").get("/api/vhosts")))
    # Objects only where the user has permissions, monitoring or not.
    for name in (permitted, watcher):
        assert names(api.as_user(name, "pw").get("/api/queues")) == ["seen"]
    assert api.as_user(outsider, "pw").get("/api/queues").json == []
    answer = api.as_user(outsider, "pw").get(path("queues", where))
    assert (answer.status, answer.json) == (
        401,
        {"error": "not_authorised", "reason": "User not authorised to access virtual host"},
    )
    # One vhost by name is for administrators, even one's own, even one that does not exist.
    for target in (path("vhosts", where), path("vhosts", "no-such-vhost-x")):
        answer = api.as_user(permitted, "pw").get(target)
        assert (answer.status, answer.json) == (
            401,
            {"error": "not_authorised", "reason": "Not administrator user"},
        )
