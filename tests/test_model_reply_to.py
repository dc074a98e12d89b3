"""Direct reply-to never buffers without bound for a requester that does not read."""

from __future__ import annotations

from pamqp import commands

from amqpd.model.broker import Broker
from tests.model_world import FakeSession


def requester_and_responder():
    broker = Broker()
    requester, responder = FakeSession(broker), FakeSession(broker)
    for session in (requester, responder):
        session.broker.channel_opened(session, 1)
    requester.do(1, commands.Basic.Consume(queue="amq.rabbitmq.reply-to", no_ack=True))
    name = broker.reply_to.channels and next(iter(broker.reply_to.channels))
    requester.take()
    return requester, responder, name


def test_a_reply_reaches_a_requester_that_reads():
    requester, responder, name = requester_and_responder()
    responder.do(1, commands.Basic.Publish(exchange="", routing_key=name), b"reply")
    assert [body for _c, _m, body in requester.take(commands.Basic.Deliver)] == [b"reply"]


def test_a_requester_over_its_output_bound_gets_no_more_replies():
    requester, responder, name = requester_and_responder()
    requester.writable = False
    for _ in range(3):
        responder.do(1, commands.Basic.Publish(exchange="", routing_key=name), b"r" * 1000)
    assert requester.take(commands.Basic.Deliver) == []


def test_a_mandatory_reply_that_cannot_be_delivered_comes_back():
    requester, responder, name = requester_and_responder()
    requester.writable = False
    responder.do(1, commands.Basic.Publish(exchange="", routing_key=name, mandatory=True), b"r")
    returned = responder.take(commands.Basic.Return)
    assert len(returned) == 1 and returned[0][2] == b"r"
