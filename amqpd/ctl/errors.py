"""Exit codes and errors, as rabbitmqctl uses them (sysexits.h)."""

from __future__ import annotations

OK = 0
USAGE = 64  # EX_USAGE: bad arguments or options
DATAERR = 65  # EX_DATAERR: e.g. deleting a vhost that does not exist
NOUSER = 67  # EX_NOUSER: the user does not exist
UNAVAILABLE = 69  # EX_UNAVAILABLE: the broker is down, or refused the operation
SOFTWARE = 70  # EX_SOFTWARE: e.g. adding a user that exists
TEMPFAIL = 75  # EX_TEMPFAIL: a timeout


class CtlError(Exception):
    """A failed command: ``text`` goes to stderr as is, ``code`` is the exit status."""

    def __init__(self, text: str, code: int = UNAVAILABLE) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def failed(message: str, code: int = UNAVAILABLE) -> CtlError:
    """rabbitmqctl's usual shape: 'Error:' on a line of its own, then the reason."""
    return CtlError(f"Error:\n{message}", code)


class UsageError(CtlError):
    """Bad arguments: rabbitmqctl's 'Error (argument validation): ...' and exit 64."""

    def __init__(self, message: str, argv: list[str], usage: str = "") -> None:
        text = f"Error (argument validation): {message}\nArguments given:\n\t{' '.join(argv)}"
        if usage:
            text += f"\n\nUsage\n\n{usage}"
        super().__init__(text, USAGE)
