"""HTTP faults with RabbitMQ's status codes and JSON bodies, raised where found."""

from __future__ import annotations


class HTTPError(Exception):
    """Answered as ``{"error": error, "reason": reason}`` with ``status``."""

    def __init__(
        self, status: int, error: str, reason: object, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, error, reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": self.error, "reason": self.reason}


def not_found() -> HTTPError:
    return HTTPError(404, "Object Not Found", "Not Found")


def bad_request(reason: str) -> HTTPError:
    return HTTPError(400, "bad_request", reason)


REALM = 'Basic realm="RabbitMQ Management"'


def login_failed() -> HTTPError:
    return HTTPError(401, "not_authorized", "Login failed", {"www-authenticate": REALM})


def not_authorised(reason: str) -> HTTPError:
    """Logged in, but not allowed (RabbitMQ spells this one the British way)."""
    return HTTPError(401, "not_authorised", reason)


class NoCredentials(HTTPError):
    """No Authorization header: RabbitMQ answers 401 with an empty body."""

    def __init__(self) -> None:
        super().__init__(401, "", "", {"www-authenticate": REALM})
