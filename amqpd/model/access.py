"""Users, virtual hosts and permissions: who may connect, to what, and do what.

Passwords are kept as RabbitMQ keeps them with ``rabbit_password_hashing_sha256``
(base64 of a 4-byte salt followed by SHA-256 of salt + password), so a
definitions file moves between amqpd and RabbitMQ both ways.

Permissions are three regular expressions per user and vhost, matched against
resource names as RabbitMQ matches them (``re:run``: a match anywhere unless
the pattern anchors it; the empty pattern matches nothing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

SHA256 = "rabbit_password_hashing_sha256"
# Tags the management API knows; others are kept and shown, with no meaning.
ADMINISTRATOR, MONITORING, POLICYMAKER, MANAGEMENT = (
    "administrator", "monitoring", "policymaker", "management",
)  # fmt: skip


def is_loopback(host: str) -> bool:
    """Whether a peer address is this machine's own (127.0.0.0/8, ::1, or v4-mapped)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def password_matches(password_hash: str, password: str) -> bool:
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except ValueError:
        return False
    if len(raw) != 4 + 32:
        return False
    expected = hashlib.sha256(raw[:4] + password.encode("utf-8")).digest()
    # Compared in constant time so a wrong password's timing says nothing.
    return hmac.compare_digest(expected, raw[4:])


@dataclass
class User:
    name: str
    password_hash: str  # "" for a user who cannot log in with a password
    tags: tuple[str, ...] = ()
    limits: dict[str, int] = field(default_factory=dict)
    hashing_algorithm: str = SHA256


@dataclass(frozen=True)
class Permission:
    configure: str
    write: str
    read: str


FULL = Permission(".*", ".*", ".*")


@dataclass(frozen=True)
class TopicPermission:
    exchange: str
    write: str
    read: str


@dataclass
class VhostInfo:
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    limits: dict[str, int] = field(default_factory=dict)  # max-connections, max-queues


Record = Callable[[str, str, "bytes | None"], None]  # kind, key, JSON or None

# What the store keeps, one setting record each (see Access.settings()).
USER, VHOST, PERMISSION, TOPIC_PERMISSION, SEEDED = (
    "user", "vhost", "permission", "topic_permission", "access",
)  # fmt: skip
LIMIT_NAMES = ("max-connections", "max-queues")


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class Access:
    """Everyone who may log in and where: users, vhosts, permissions, limits.

    Every change is handed to ``record`` (the journal's ``setting_changed``),
    so it survives restarts; ``restore`` brings the recorded state back.
    """

    def __init__(
        self,
        users: dict[str, str],
        vhosts: tuple[str, ...] | set[str],
        *,
        tags: tuple[str, ...] = (ADMINISTRATOR,),
    ) -> None:
        """``users`` by plain password, each with ``tags`` and full permissions
        on every vhost (the broker's configured users)."""
        self.users: dict[str, User] = {}
        self.vhosts: dict[str, VhostInfo] = {name: VhostInfo(name) for name in vhosts}
        self.permissions: dict[tuple[str, str], Permission] = {}  # (user, vhost)
        self.topic_permissions: dict[tuple[str, str], dict[str, TopicPermission]] = {}
        self.record: Record = lambda kind, key, value: None
        self.enforcing = True  # False: every operation is permitted (model tests)
        self.loopback_users: tuple[str, ...] = ("guest",)
        for name, password in users.items():
            self.users[name] = User(name, hash_password(password), tuple(tags))
            for vhost in self.vhosts:
                self.permissions[(name, vhost)] = FULL

    # ---- logging in -------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        found = self.users.get(user)
        return found is not None and password_matches(found.password_hash, password)

    def vhost_exists(self, vhost: str) -> bool:
        return vhost in self.vhosts

    def may_connect_from(self, user: str, host: str) -> bool:
        """``loopback_users`` (guest by default) may connect only from this machine."""
        return user not in self.loopback_users or is_loopback(host)

    def may_open(self, user: str, vhost: str) -> bool:
        """Whether ``user`` has any permission on ``vhost`` (else connection.open fails)."""
        return (user, vhost) in self.permissions

    def open_refusal(self, user: str, vhost: str, connections: int = 0) -> str | None:
        """Why connection.open to ``vhost`` is refused (530 NOT_ALLOWED), or None.
        ``connections``: how many are open to it already."""
        if vhost not in self.vhosts:
            return f"vhost {vhost} not found"
        if not self.may_open(user, vhost):
            return f"access to vhost '{vhost}' refused for user '{user}'"
        limit = self.vhosts[vhost].limits.get("max-connections")
        if limit is not None and limit >= 0 and connections >= limit:
            return (
                f"access to vhost '{vhost}' refused for user '{user}': "
                f"connection limit ({limit}) is reached"
            )
        return None

    def queue_limit(self, vhost: str) -> int | None:
        info = self.vhosts.get(vhost)
        limit = info.limits.get("max-queues") if info is not None else None
        return limit if limit is not None and limit >= 0 else None

    # ---- permissions ------------------------------------------------------------
    def permitted(self, user: str, vhost: str, kind: str, resource: str) -> bool:
        """``kind``: "configure", "write" or "read"; ``resource``: an exchange or queue name."""
        if not self.enforcing:
            return True
        permission = self.permissions.get((user, vhost))
        if permission is None:
            return False
        return pattern_matches(getattr(permission, kind), resource)

    def topic_permitted(
        self, user: str, vhost: str, kind: str, exchange: str, routing_key: str
    ) -> bool:
        """Topic permissions (on topic exchanges only): none set for the exchange
        means everything is allowed; the empty pattern means "^$"; {username}
        and {vhost} in a pattern stand for the user's and the vhost's names."""
        found = self.topic_permissions.get((user, vhost), {}).get(exchange)
        if found is None or not self.enforcing:
            return True
        pattern = getattr(found, kind) or "^$"
        pattern = pattern.replace("{username}", user).replace("{vhost}", vhost)
        return pattern_matches(pattern, routing_key)

    # ---- changes ------------------------------------------------------------------
    def put_user(self, user: User) -> bool:
        """Create or replace a user; True if it is new."""
        created = user.name not in self.users
        self.users[user.name] = user
        self._record_user(user)
        return created

    def delete_user(self, name: str) -> bool:
        if self.users.pop(name, None) is None:
            return False
        self.record(USER, name, None)
        for user, vhost in [k for k in self.permissions if k[0] == name]:
            self.clear_permission(user, vhost)
        for user, vhost in [k for k in self.topic_permissions if k[0] == name]:
            self.clear_topic_permissions(user, vhost)
        return True

    def set_permission(self, user: str, vhost: str, permission: Permission) -> bool:
        created = (user, vhost) not in self.permissions
        self.permissions[(user, vhost)] = permission
        self.record(PERMISSION, _json([vhost, user]), _json(
            {"configure": permission.configure, "write": permission.write,
             "read": permission.read}))  # fmt: skip
        return created

    def clear_permission(self, user: str, vhost: str) -> bool:
        if self.permissions.pop((user, vhost), None) is None:
            return False
        self.record(PERMISSION, _json([vhost, user]), None)
        return True

    def set_topic_permission(self, user: str, vhost: str, permission: TopicPermission) -> bool:
        by_exchange = self.topic_permissions.setdefault((user, vhost), {})
        created = permission.exchange not in by_exchange
        by_exchange[permission.exchange] = permission
        self.record(TOPIC_PERMISSION, _json([vhost, user, permission.exchange]),
                    _json({"write": permission.write, "read": permission.read}))  # fmt: skip
        return created

    def clear_topic_permissions(self, user: str, vhost: str, exchange: str | None = None) -> bool:
        """Clear one exchange's topic permission, or all of them (``exchange`` None)."""
        by_exchange = self.topic_permissions.get((user, vhost), {})
        names = list(by_exchange) if exchange is None else [exchange]
        cleared = False
        for name in names:
            if by_exchange.pop(name, None) is not None:
                cleared = True
                self.record(TOPIC_PERMISSION, _json([vhost, user, name]), None)
        if not by_exchange:
            self.topic_permissions.pop((user, vhost), None)
        return cleared

    def put_vhost(self, info: VhostInfo) -> bool:
        created = info.name not in self.vhosts
        self.vhosts[info.name] = info
        self._record_vhost(info)
        return created

    def delete_vhost(self, name: str) -> bool:
        """Forget a vhost and every permission on it."""
        if self.vhosts.pop(name, None) is None:
            return False
        self.record(VHOST, name, None)
        for user, vhost in [k for k in self.permissions if k[1] == name]:
            self.clear_permission(user, vhost)
        for user, vhost in [k for k in self.topic_permissions if k[1] == name]:
            self.clear_topic_permissions(user, vhost)
        return True

    def set_vhost_limit(self, vhost: str, name: str, value: int | None) -> None:
        """Set (or with None clear) one limit of an existing vhost."""
        info = self.vhosts[vhost]
        if value is None:
            info.limits.pop(name, None)
        else:
            info.limits[name] = value
        self._record_vhost(info)

    # ---- what the store keeps -------------------------------------------------------
    def _record_user(self, user: User) -> None:
        self.record(USER, user.name, _json({
            "password_hash": user.password_hash, "hashing_algorithm": user.hashing_algorithm,
            "tags": list(user.tags), "limits": user.limits,
        }))  # fmt: skip

    def _record_vhost(self, info: VhostInfo) -> None:
        self.record(VHOST, info.name, _json(
            {"description": info.description, "tags": list(info.tags), "limits": info.limits}
        ))  # fmt: skip

    def record_all(self) -> None:
        """Record the whole state (a first start: the configured users and vhosts)."""
        for info in self.vhosts.values():
            self._record_vhost(info)
        for user in self.users.values():
            self._record_user(user)
        for (user, vhost), permission in list(self.permissions.items()):
            self.set_permission(user, vhost, permission)
        for (user, vhost), by_exchange in list(self.topic_permissions.items()):
            for permission in list(by_exchange.values()):
                self.set_topic_permission(user, vhost, permission)
        self.record(SEEDED, "seeded", b"true")

    def restore(self, settings: list[tuple[str, str, bytes]]) -> bool:
        """Replace the state with what the store kept (``(kind, key, JSON)`` each);
        False when the store holds none yet (a first start), leaving it as it is."""
        if not any(kind == SEEDED for kind, _key, _value in settings):
            return False
        self.users.clear()
        self.vhosts.clear()
        self.permissions.clear()
        self.topic_permissions.clear()
        for kind, key, raw in settings:
            try:
                self._restore_one(kind, key, json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue  # one unreadable record never stops a start
        return True

    def _restore_one(self, kind: str, key: str, value: dict) -> None:
        if kind == USER:
            self.users[key] = User(key, value["password_hash"], tuple(value["tags"]),
                                   dict(value["limits"]), value["hashing_algorithm"])  # fmt: skip
        elif kind == VHOST:
            self.vhosts[key] = VhostInfo(key, value["description"], tuple(value["tags"]),
                                         dict(value["limits"]))  # fmt: skip
        elif kind == PERMISSION:
            vhost, user = json.loads(key)
            self.permissions[(user, vhost)] = Permission(
                value["configure"], value["write"], value["read"]
            )
        elif kind == TOPIC_PERMISSION:
            vhost, user, exchange = json.loads(key)
            self.topic_permissions.setdefault((user, vhost), {})[exchange] = TopicPermission(
                exchange, value["write"], value["read"]
            )


@dataclass(frozen=True)
class _Compiled:
    pattern: re.Pattern | None


_cache: dict[str, _Compiled] = {}


def pattern_matches(pattern: str, name: str) -> bool:
    """RabbitMQ's permission match: the empty pattern matches nothing (not even "")."""
    if pattern == "":
        return False
    if pattern == ".*":
        return True
    compiled = _cache.get(pattern)
    if compiled is None:
        try:
            compiled = _Compiled(re.compile(pattern))
        except re.error:
            compiled = _Compiled(None)
        if len(_cache) > 4096:
            _cache.clear()
        _cache[pattern] = compiled
    return compiled.pattern is not None and compiled.pattern.search(name) is not None


# Python's texts for the pattern faults people make, as PCRE words them.
_PCRE_TEXTS = {
    "missing ), unterminated subpattern": "missing )",
    "unbalanced parenthesis": "unmatched parentheses",
    "unterminated character set": "missing terminating ] for character class",
    "nothing to repeat": "nothing to repeat",
    "multiple repeat": "nothing to repeat",
}


def pattern_problem(pattern: str) -> tuple[str, int] | None:
    """Why ``pattern`` is not a valid regular expression, as (PCRE's text, its
    offset) the way RabbitMQ reports it, or None when it is valid."""
    try:
        re.compile(pattern)
    except re.error as err:
        text = _PCRE_TEXTS.get(err.msg, err.msg)
        # PCRE notices a missing ")" or "]" at the end of the pattern.
        at_end = text.startswith("missing")
        return text, len(pattern) if at_end else (err.pos or 0)
    return None
