"""Definitions: the broker's topology and access in RabbitMQ 3.10's file format.

``export`` and ``export_vhost`` give what ``GET /api/definitions`` gives, with
its keys, their order and what it leaves out (exclusive queues, the default
and ``amq.*`` exchanges, the default exchange's bindings, vhosts' descriptions;
operator policies and vhost limits travel as ``parameters``).

``apply`` imports a file as ``rabbit_definitions:apply_defs`` does: a merge, in
its order (users, vhosts, the queue limit check, permissions, topic
permissions, exchanges, global parameters, policies, parameters, queues,
bindings; for one vhost: the check, exchanges, parameters, policies, queues,
bindings). An exchange or queue that exists is left as it is, whatever the file
says of it; a binding whose source or destination is missing is skipped. A
bad record stops the import with RabbitMQ's reason, and what came before it
stays: RabbitMQ imports each category's records all at once (so the good
records of the failing category are kept too, except for global parameters,
policies and parameters, taken one by one) and stops before the next category.

Reasons are JSON as RabbitMQ sends them: for a whole-broker import the Erlang
term itself (a tuple as a list, a string of characters as a list of
integers), for one vhost's import its text.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from amqpd.errors import AMQPError
from amqpd.model import policies, snapshot
from amqpd.model.access import (
    LIMIT_NAMES,
    SHA256,
    Permission,
    TopicPermission,
    User,
    hash_password,
    pattern_problem,
)
from amqpd.model.admin import Admin, Outcome
from amqpd.model.broker import Broker
from amqpd.model.policy_admin import PolicyAdmin

ACTING_USER = "rmq-internal"  # who imports a file loaded at boot, as RabbitMQ names it
OPERATOR_POLICY, VHOST_LIMITS = "operator_policy", "vhost-limits"


# ---- export ---------------------------------------------------------------------------
def export(broker: Broker, product_name: str, product_version: str, rabbit_version: str) -> dict:
    """Everything, as ``GET /api/definitions`` shows it."""
    access = broker.access
    vhosts = list(broker.vhosts)
    return {
        "rabbit_version": rabbit_version,
        "rabbitmq_version": rabbit_version,
        "product_name": product_name,
        "product_version": product_version,
        "users": [
            {
                "name": u.name,
                "password_hash": u.password_hash,
                "hashing_algorithm": u.hashing_algorithm,
                "tags": list(u.tags),
                "limits": dict(u.limits),
            }
            for u in access.users.values()
        ],  # fmt: skip
        "vhosts": [{"name": name} for name in access.vhosts],
        "permissions": [
            {
                "user": user,
                "vhost": vhost,
                "configure": p.configure,
                "write": p.write,
                "read": p.read,
            }
            for (user, vhost), p in access.permissions.items()
        ],  # fmt: skip
        "topic_permissions": [
            {"user": user, "vhost": vhost, "exchange": p.exchange, "write": p.write, "read": p.read}
            for (user, vhost), found in access.topic_permissions.items()
            for p in found.values()
        ],  # fmt: skip
        "parameters": [p for v in vhosts for p in _parameters(broker, v)],
        "global_parameters": [{"name": k, "value": v} for k, v in broker.parameters.items()],
        "policies": [p for v in vhosts for p in _policies(broker, v)],
        **_topology(broker, None),
    }


def export_vhost(broker: Broker, vhost: str, rabbit_version: str) -> dict:
    """One vhost's part, as ``GET /api/definitions/{vhost}`` shows it (no vhost keys
    in queues, exchanges and bindings; policies and parameters keep theirs)."""
    topology = _topology(broker, vhost)
    for items in topology.values():
        for item in items:
            del item["vhost"]
    return {
        "rabbit_version": rabbit_version,
        "parameters": _parameters(broker, vhost),
        "policies": _policies(broker, vhost),
        **topology,
    }


def _parameters(broker: Broker, vhost: str) -> list[dict]:
    found = [
        {"value": {"pattern": p.pattern, "definition": dict(p.definition),
                   "priority": p.priority, "apply-to": p.apply_to},
         "vhost": vhost, "component": OPERATOR_POLICY, "name": p.name}
        for p in broker.vhosts[vhost].policies.table(True).values()
    ]  # fmt: skip
    info = broker.access.vhosts.get(vhost)
    if info is not None and info.limits:
        found.append({"value": dict(info.limits), "vhost": vhost, "component": VHOST_LIMITS,
                      "name": "limits"})  # fmt: skip
    return found


def _policies(broker: Broker, vhost: str) -> list[dict]:
    return [p.render() for p in broker.vhosts[vhost].policies.table(False).values()]


def _topology(broker: Broker, vhost: str | None) -> dict:
    queues = [q for q in snapshot.queues(broker, vhost) if not q.exclusive]
    names = {(q.vhost, q.name) for q in queues}
    exchanges = [x for x in snapshot.exchanges(broker, vhost) if _exported_exchange(x.name)]
    bindings = [
        b for b in snapshot.bindings(broker, vhost)
        if b.source != "" and (
            (b.destination_type == "queue" and (b.vhost, b.destination) in names)
            or (b.destination_type == "exchange" and b.destination != ""))
    ]  # fmt: skip
    return {
        "queues": [
            {"name": q.name, "vhost": q.vhost, "durable": q.durable,
             "auto_delete": q.auto_delete, "arguments": dict(q.arguments)}
            for q in queues
        ],
        "exchanges": [
            {"name": x.name, "vhost": x.vhost, "type": x.type, "durable": x.durable,
             "auto_delete": x.auto_delete, "internal": x.internal,
             "arguments": dict(x.arguments)}
            for x in exchanges
        ],
        "bindings": [
            {"source": b.source, "vhost": b.vhost, "destination": b.destination,
             "destination_type": b.destination_type, "routing_key": b.routing_key,
             "arguments": dict(b.arguments)}
            for b in bindings
        ],
    }  # fmt: skip


def _exported_exchange(name: str) -> bool:
    return name != "" and not name.startswith("amq.")


# ---- import ---------------------------------------------------------------------------
class DefinitionsError(Exception):
    """An import RabbitMQ refuses: ``reason`` is its JSON answer. What was imported
    before the fault stays; ``durable`` says whether that waits for the store."""

    def __init__(self, reason: object, durable: bool = False, text: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.durable = durable
        self.text = text if text is not None else str(reason)  # for a person to read


class _Fault(Exception):
    """One record's fault: the Erlang term (``term``) and its text for one vhost."""

    def __init__(self, term: object, text: str | None = None) -> None:
        super().__init__(term)
        self.term = term
        self.text = text


def chars(text: str) -> list[int]:
    """An Erlang string (a list of characters) as RabbitMQ's JSON encodes it."""
    return [ord(c) for c in text]


def _erl_binary(text: str) -> str:
    """A binary as Erlang's ~p prints it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'<<"{escaped}">>'


def _amqp_fault(err: AMQPError) -> _Fault:
    name = err.code.name.lower()
    return _Fault(["amqp_error", name, chars(err.detail), "none"], f"{name}: {err.detail}")


def _validation(text: str) -> _Fault:
    """A parameter's or policy's validation failure: its text, HTML-escaped as
    add_policy and add_parameter escape it; for one vhost, ~p of the binary."""
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _Fault(text, _erl_binary(text))


FUNCTION_CLAUSE = _Fault("function_clause", "function_clause")


@dataclass
class _Import:
    broker: Broker
    user: str
    vhost: str | None  # importing into one vhost: the records' own vhost keys are ignored

    # ---- the parts of a record ----
    def _vhost_of(self, record: dict) -> str:
        vhost = self.vhost if self.vhost is not None else record.get("vhost")
        if not isinstance(vhost, str) or vhost not in self.broker.vhosts:
            raise _Fault(["no_such_vhost", vhost])
        return vhost

    # ---- users, vhosts, permissions ----
    def user_record(self, record: dict) -> None:
        if "name" not in record:
            raise _Fault(["badkey", "name"])
        name = record["name"]
        if "tags" not in record:
            raise _Fault("tags_not_present")
        tags = record["tags"]
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",")]
        if not isinstance(name, str) or not isinstance(tags, list) or \
                not all(isinstance(t, str) for t in tags):  # fmt: skip
            raise FUNCTION_CLAUSE
        password_hash, algorithm = self._password_of(record, name in self.broker.access.users)
        limits = record.get("limits", {})
        if not isinstance(limits, dict) or not isinstance(algorithm, str):
            raise FUNCTION_CLAUSE
        user = User(name, password_hash, tuple(t for t in tags if t), dict(limits), algorithm)
        self.broker.access.put_user(user)

    @staticmethod
    def _password_of(record: dict, existing: bool) -> tuple[str, object]:
        """(hash, algorithm): from a password, a given hash, or none at all (an
        existing user then loses its password, a new one gets a random one)."""
        if "password" in record and "password_hash" in record:
            raise _Fault("both_password_and_password_hash_are_provided")
        if "password" in record:
            if not isinstance(record["password"], str):
                raise FUNCTION_CLAUSE
            return hash_password(record["password"]), SHA256
        if "password_hash" in record:
            password_hash = record["password_hash"]
            if not isinstance(password_hash, str) or not _is_base64(password_hash):
                raise _Fault(["not_base64", password_hash])
            return password_hash, record.get("hashing_algorithm", SHA256)
        if existing:
            return "", SHA256
        return hash_password(_random_password()), SHA256

    def vhost_record(self, record: dict) -> None:
        name = record.get("name")
        if not isinstance(name, str):
            return  # RabbitMQ makes a vhost named "undefined" of it; we skip it
        metadata = record.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        description = record.get("description", metadata.get("description", ""))
        tags = record.get("tags", metadata.get("tags", []))
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",")]
        if not isinstance(description, str) or not isinstance(tags, list) or \
                not all(isinstance(t, str) for t in tags):  # fmt: skip
            raise FUNCTION_CLAUSE
        self.broker.put_vhost(name, description, tuple(t for t in tags if t), self.user)

    def _user_and_vhost(self, record: dict) -> tuple[str, str]:
        user, vhost = record.get("user"), record.get("vhost")
        if user not in self.broker.access.users:
            raise _Fault(["no_such_user", user])
        if vhost not in self.broker.access.vhosts:
            raise _Fault(["no_such_vhost", vhost])
        return user, vhost

    @staticmethod
    def _patterns(record: dict, keys: tuple[str, ...], as_chars: bool) -> list[str]:
        found = []
        for key in keys:
            value = record.get(key)
            if not isinstance(value, str):
                raise FUNCTION_CLAUSE
            problem = pattern_problem(value) if key != "exchange" else None
            if problem is not None:
                text, offset = problem
                shown = chars(value) if as_chars else value
                raise _Fault(["invalid_regexp", shown, [chars(text), offset]])
            found.append(value)
        return found

    def permission_record(self, record: dict) -> None:
        user, vhost = self._user_and_vhost(record)
        configure, write, read = self._patterns(record, ("configure", "write", "read"), True)
        self.broker.access.set_permission(user, vhost, Permission(configure, write, read))

    def topic_permission_record(self, record: dict) -> None:
        user, vhost = self._user_and_vhost(record)
        exchange, write, read = self._patterns(record, ("exchange", "write", "read"), False)
        self.broker.access.set_topic_permission(user, vhost,
                                                TopicPermission(exchange, write, read))  # fmt: skip

    # ---- parameters and policies ----
    def global_parameter_record(self, record: dict) -> None:
        name = record.get("name")
        if isinstance(name, str):  # RabbitMQ keeps a nameless one as "undefined"; we skip it
            PolicyAdmin(self.broker).put_global(name, record.get("value"))

    def policy_record(self, record: dict) -> None:
        vhost = self._vhost_of(record)
        name = record.get("name")
        if name is None:
            raise _Fault(f"policy in virtual host '{vhost}' has undefined name")
        if not isinstance(name, str):
            raise FUNCTION_CLAUSE
        body = {"apply-to": "all", **record}
        self._put_policy(vhost, name, body, False, f" ({vhost}/{name})")

    def _put_policy(self, vhost: str, name: str, body: dict, operator: bool, where: str) -> None:
        pattern = body.get("pattern")
        if not isinstance(pattern, str):
            shown = "undefined" if pattern is None else policies.erl(pattern)
            text = f"Validation failed\n\npattern should be a binary but was {shown}\n{where}"
            raise _validation(text)
        if not isinstance(body.get("definition"), dict):
            raise FUNCTION_CLAUSE
        try:
            policy = policies.parse(vhost, name, body, operator)
        except policies.PolicyError as err:
            raise _validation(err.text + where) from None
        PolicyAdmin(self.broker).put_policy(policy, operator)

    def parameter_record(self, record: dict) -> None:
        vhost = self._vhost_of(record)
        component, name, value = record.get("component"), record.get("name"), record.get("value")
        where = f" ({vhost}/{component}/{name})"
        if component == OPERATOR_POLICY and isinstance(name, str) and isinstance(value, dict):
            self._put_policy(vhost, name, {"apply-to": "all", **value}, True, where)
        elif component == VHOST_LIMITS and isinstance(value, dict):
            self._set_limits(vhost, value, where)
        else:
            raise _validation(f"Validation failed\n\ncomponent {component} not found\n{where}")

    def _set_limits(self, vhost: str, value: dict, where: str) -> None:
        for key, limit in value.items():
            if key not in LIMIT_NAMES:
                raise _validation(f'Validation failed\n\nUnrecognised terms [{{<<"{key}">>,'
                                  f"{policies.erl(limit)}}}] in limits\n{where}")  # fmt: skip
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise _validation(f"Validation failed\n\n{key} should be a number, actually "
                                  f"was {policies.erl(limit)}\n{where}")  # fmt: skip
        access = self.broker.access
        for key in LIMIT_NAMES:  # the file's limits replace the vhost's
            if key in access.vhosts[vhost].limits and key not in value:
                access.set_vhost_limit(vhost, key, None)
        for key, limit in value.items():
            access.set_vhost_limit(vhost, key, limit)

    # ---- topology ----
    def exchange_record(self, record: dict) -> None:
        name = record.get("name")
        if name == "" or (isinstance(name, str) and name.startswith("amq.")):
            return  # never imported, as in RabbitMQ
        vhost = self._vhost_of(record)
        if not isinstance(name, str):
            raise FUNCTION_CLAUSE
        if name in self.broker.vhosts[vhost].exchanges:
            return  # an existing exchange is left as it is
        type_ = record.get("type")
        if not isinstance(type_, str):
            text = f"invalid exchange type '{type_ if type_ is not None else 'undefined'}'"
            raise _Fault(["amqp_error", "command_invalid", chars(text), "none"],
                         f"command_invalid: {text}")  # fmt: skip
        flags = [record.get(k) for k in ("durable", "auto_delete")]
        internal = record.get("internal", False)
        if not all(isinstance(f, bool) for f in (*flags, internal)):
            raise FUNCTION_CLAUSE
        self._admin(lambda: Admin(self.broker).declare_exchange(
            vhost, name, type_, durable=flags[0], auto_delete=flags[1], internal=internal,
            arguments=_arguments(record)))  # fmt: skip

    def queue_record(self, record: dict) -> None:
        name = record.get("name")
        if isinstance(name, str) and name.startswith("amq."):
            return  # never imported, as in RabbitMQ
        vhost = self._vhost_of(record)
        if not isinstance(name, str):
            raise FUNCTION_CLAUSE
        if name in self.broker.vhosts[vhost].queues:
            return  # an existing queue is left as it is, whatever its properties
        durable, auto_delete = record.get("durable"), record.get("auto_delete")
        if not isinstance(durable, bool) or not isinstance(auto_delete, bool):
            raise FUNCTION_CLAUSE
        self._admin(lambda: Admin(self.broker).declare_queue(
            vhost, name, durable=durable, auto_delete=auto_delete,
            arguments=_arguments(record)))  # fmt: skip

    def binding_record(self, record: dict) -> None:
        """A binding RabbitMQ cannot make (a source or destination missing) is skipped."""
        vhost = self.vhost if self.vhost is not None else record.get("vhost")
        kind = record.get("destination_type")
        source, destination = record.get("source"), record.get("destination")
        key = record.get("routing_key", "")
        if (
            vhost not in self.broker.vhosts
            or kind not in ("queue", "exchange")
            or not all(isinstance(v, str) for v in (source, destination, key))
        ):
            return
        try:
            arguments = _arguments(record)
            Admin(self.broker).bind(vhost, source, kind, destination, key, arguments)
        except (AMQPError, _Fault):
            return

    @staticmethod
    def _admin(change: Callable[[], Outcome]) -> None:
        try:
            change()
        except AMQPError as err:
            raise _amqp_fault(err) from None

    # ---- the queue limit, checked before anything else of a vhost changes ----
    def check_queue_limits(self, records: list) -> None:
        adding: dict[str, int] = {}
        for record in records:
            vhost = self.vhost if self.vhost is not None else record.get("vhost")
            found = self.broker.vhosts.get(vhost) if isinstance(vhost, str) else None
            if found is not None and record.get("name") not in found.queues:
                adding[vhost] = adding.get(vhost, 0) + 1
        for vhost, count in adding.items():
            limit = self.broker.access.queue_limit(vhost)
            current = len(self.broker.vhosts[vhost].queues)
            if limit is not None and current + count > limit:
                text = (f'Adding {count} queue(s) to virtual host "{vhost}" would exceed the '
                        f"limit of {limit} queue(s).\n\nThis virtual host currently has "
                        f"{current} queue(s) defined.\n\nImport aborted!")  # fmt: skip
                raise _Fault(["vhost_limit_exceeded", chars(text)], text)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _random_password() -> str:
    return secrets.token_urlsafe(24)


def _arguments(record: dict) -> dict:
    value = record.get("arguments")
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise FUNCTION_CLAUSE
    return value


# (category, the importer's method, taken all at once as RabbitMQ does)
_WHOLE = (
    ("users", "user_record", True), ("vhosts", "vhost_record", True),
    ("queues", None, None),  # the queue limit check
    ("permissions", "permission_record", True),
    ("topic_permissions", "topic_permission_record", True),
    ("exchanges", "exchange_record", True),
    ("global_parameters", "global_parameter_record", False),
    ("policies", "policy_record", False), ("parameters", "parameter_record", False),
    ("queues", "queue_record", True), ("bindings", "binding_record", True),
)  # fmt: skip
_ONE_VHOST = (
    ("queues", None, None),
    ("exchanges", "exchange_record", True), ("parameters", "parameter_record", False),
    ("policies", "policy_record", False), ("queues", "queue_record", True),
    ("bindings", "binding_record", True),
)  # fmt: skip
CATEGORIES = ("users", "vhosts", "permissions", "topic_permissions", "parameters",
              "global_parameters", "policies", "queues", "exchanges", "bindings")  # fmt: skip


def apply(broker: Broker, body: dict, user: str, vhost: str | None = None) -> Outcome:
    """Import ``body`` (a parsed definitions file) as ``user``, into every vhost it
    names or (``vhost``) into one; DefinitionsError with RabbitMQ's reason when
    a record is refused. Keys other than the categories are ignored."""
    for category in CATEGORIES:
        if category in body and not isinstance(body[category], list):
            raise DefinitionsError(f"{category} must be a list")
    importer = _Import(broker, user, vhost)
    journal = broker.journal
    broker.tick()
    mark = journal.mark()
    try:
        for category, method, at_once in _WHOLE if vhost is None else _ONE_VHOST:
            records = [r for r in body.get(category) or [] if isinstance(r, dict)]
            if method is None:
                importer.check_queue_limits(records)
                continue
            _run(records, getattr(importer, method), at_once)
    except _Fault as fault:
        reason = fault.term if vhost is None or fault.text is None else fault.text
        if isinstance(fault.term, str):
            text = fault.term
        else:
            text = fault.text if fault.text is not None else json.dumps(fault.term)
        raise DefinitionsError(reason, journal.durable_since(mark), text) from None
    finally:
        broker.dispatch()
    return Outcome(durable=journal.durable_since(mark))


def _run(records: list[dict], one: Callable[[dict], None], at_once: bool) -> None:
    """Every record, or (``at_once`` False) up to the first fault."""
    first: _Fault | None = None
    for record in records:
        try:
            one(record)
        except _Fault as fault:
            if not at_once:
                raise
            first = first or fault
    if first is not None:
        raise first
