"""HTTP Basic logins against the broker's users, and what their tags allow.

As in RabbitMQ 3.10: ``management`` sees the objects of the vhosts it has
permissions in; ``policymaker`` also manages policies and parameters there;
``monitoring`` also sees every vhost's name, every connection and channel
(but objects only where it has permissions); ``administrator`` does everything.
"""

from __future__ import annotations

import base64
import binascii

from amqpd.management.errors import NoCredentials, login_failed, not_authorised, not_found
from amqpd.model.access import (
    ADMINISTRATOR,
    MANAGEMENT,
    MONITORING,
    POLICYMAKER,
    Access,
    User,
)

# What each tag grants, as the set of tags it stands for.
_IMPLIES = {
    ADMINISTRATOR: {ADMINISTRATOR, MONITORING, POLICYMAKER, MANAGEMENT},
    MONITORING: {MONITORING, MANAGEMENT},
    POLICYMAKER: {POLICYMAKER, MANAGEMENT},
    MANAGEMENT: {MANAGEMENT},
}
_REFUSALS = {
    ADMINISTRATOR: "Not administrator user",
    MONITORING: "Not monitor user",
    POLICYMAKER: "Not policymaker user",
    MANAGEMENT: "Not management user",
}


def granted(user: User) -> set[str]:
    return set().union(*(_IMPLIES.get(tag, set()) for tag in user.tags))


def authenticate(access: Access, authorization: str | None) -> User:
    if not authorization:
        raise NoCredentials()
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise login_failed()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise login_failed() from None
    name, sep, password = decoded.partition(":")
    if not sep or not access.check_password(name, password):
        raise login_failed()
    user = access.users[name]
    if MANAGEMENT not in granted(user):
        raise not_authorised("Not management user")
    return user


def require(user: User, tag: str) -> None:
    if tag not in granted(user):
        raise not_authorised(_REFUSALS[tag])


def sees_all_vhosts(user: User) -> bool:
    """Monitoring: every vhost's name, connection and channel."""
    return MONITORING in granted(user)


def listed_vhosts(access: Access, user: User) -> list[str]:
    """The vhosts /api/vhosts lists: all for monitoring, else those with a permission."""
    if sees_all_vhosts(user):
        return sorted(access.vhosts)
    return sorted(v for v in access.vhosts if access.may_open(user.name, v))


def visible_vhosts(access: Access, user: User) -> list[str]:
    """The vhosts whose objects ``user`` may list: all for administrators; for
    anyone else (monitoring too, as RabbitMQ 3.10 has it) those with a permission."""
    if ADMINISTRATOR in granted(user):
        return sorted(access.vhosts)
    return sorted(v for v in access.vhosts if access.may_open(user.name, v))


def require_vhost(access: Access, user: User, vhost: str) -> None:
    """A vhost in a path: unknown is 404; without a permission on it (but for
    administrators) 401, as RabbitMQ 3.10 answers monitoring users too."""
    if vhost not in access.vhosts:
        raise not_found()
    if ADMINISTRATOR not in granted(user) and not access.may_open(user.name, vhost):
        raise not_authorised("User not authorised to access virtual host")
