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
import os
import re
from dataclasses import dataclass, field

SHA256 = "rabbit_password_hashing_sha256"
# Tags the management API knows; others are kept and shown, with no meaning.
ADMINISTRATOR, MONITORING, POLICYMAKER, MANAGEMENT = (
    "administrator", "monitoring", "policymaker", "management",
)  # fmt: skip


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


class Access:
    """Everyone who may log in and where: users, vhosts, permissions."""

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

    def may_open(self, user: str, vhost: str) -> bool:
        """Whether ``user`` has any permission on ``vhost`` (else connection.open fails)."""
        return (user, vhost) in self.permissions

    # ---- permissions ------------------------------------------------------------
    def permitted(self, user: str, vhost: str, kind: str, resource: str) -> bool:
        """``kind``: "configure", "write" or "read"; ``resource``: an exchange or queue name."""
        permission = self.permissions.get((user, vhost))
        if permission is None:
            return False
        return pattern_matches(getattr(permission, kind), resource)

    def topic_permitted(
        self, user: str, vhost: str, kind: str, exchange: str, routing_key: str
    ) -> bool:
        """Topic permissions (on topic exchanges only): none set for the
        exchange means everything is allowed, as in RabbitMQ."""
        found = self.topic_permissions.get((user, vhost), {}).get(exchange)
        return found is None or pattern_matches(getattr(found, kind), routing_key)


@dataclass(frozen=True)
class _Compiled:
    pattern: re.Pattern | None


_cache: dict[str, _Compiled] = {}


def pattern_matches(pattern: str, name: str) -> bool:
    """RabbitMQ's permission match: the empty pattern matches nothing (not even "")."""
    if pattern == "":
        return False
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
