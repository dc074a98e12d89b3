"""Class 30 (access), which AMQP 0-9-1 deprecated and pamqp no longer knows.

Old clients still send access.request before using a channel; RabbitMQ answers
access.request-ok with ticket 1 and ignores the tickets that follow. The two
methods are pamqp method classes, so the codec and the channel handle them
like any other.
"""

from __future__ import annotations

import typing

from pamqp.base import Frame


class Access:
    class Request(Frame):
        """Request an access ticket for a realm (ignored beyond its reply)."""

        __slots__: typing.ClassVar[list[str]] = [
            "realm",
            "exclusive",
            "passive",
            "active",
            "write",
            "read",
        ]
        frame_id: typing.ClassVar[int] = 10
        index: typing.ClassVar[int] = 0x001E000A
        name: typing.ClassVar[str] = "Access.Request"
        synchronous: typing.ClassVar[bool] = True
        valid_responses: typing.ClassVar[list[str]] = ["Access.RequestOk"]

        _realm = "shortstr"
        _exclusive = "bit"
        _passive = "bit"
        _active = "bit"
        _write = "bit"
        _read = "bit"

        def __init__(
            self,
            realm: str = "/data",
            exclusive: bool = False,
            passive: bool = True,
            active: bool = True,
            write: bool = True,
            read: bool = True,
        ) -> None:
            self.realm = realm
            self.exclusive = exclusive
            self.passive = passive
            self.active = active
            self.write = write
            self.read = read

    class RequestOk(Frame):
        """The ticket granted: RabbitMQ always grants ticket 1."""

        __slots__: typing.ClassVar[list[str]] = ["ticket"]
        frame_id: typing.ClassVar[int] = 11
        index: typing.ClassVar[int] = 0x001E000B
        name: typing.ClassVar[str] = "Access.RequestOk"
        synchronous: typing.ClassVar[bool] = False

        _ticket = "short"

        def __init__(self, ticket: int = 1) -> None:
            self.ticket = ticket


INDEX_MAPPING: dict[int, type[Frame]] = {
    Access.Request.index: Access.Request,
    Access.RequestOk.index: Access.RequestOk,
}
