"""Users and virtual hosts: who may connect, and to what."""

from __future__ import annotations

import hmac


class Access:
    def __init__(self, users: dict[str, str], vhosts: tuple[str, ...] | set[str]) -> None:
        self._users = dict(users)
        self._vhosts = set(vhosts)

    def check_password(self, user: str, password: str) -> bool:
        expected = self._users.get(user)
        # Compare in constant time so a wrong password's timing says nothing.
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def vhost_exists(self, vhost: str) -> bool:
        return vhost in self._vhosts
