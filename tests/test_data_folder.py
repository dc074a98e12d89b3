"""What amqpd makes of its data folder at start-up.

A folder it cannot use (a garbage database, a file in place of the folder or a
folder in place of a store file, no permissions, a folder that cannot be
created, a folder another broker holds) stops start-up with one line naming
it; an unclean stop is noticed, and a torn write-ahead log gives back what
was confirmed before it.
"""

from __future__ import annotations

import os
import re

import pytest

from amqpd.config import BrokerConfig
from amqpd.store import StoreError
from amqpd.testing import BrokerThread
from tests.broker_process import HOST, assert_one_line_refusal, run_amqpd
from tests.restartable import PERSISTENT, bodies, count, exists


def start_up(tmp_path, data_dir):
    """Run amqpd on this data folder until it exits: it must refuse to start."""
    return run_amqpd(tmp_path, "--bind", HOST, "--port", "0", "--data-dir", str(data_dir))


def test_a_garbage_database_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "amqpd.sqlite3").write_bytes(b"definitely not SQLite\n" * 500)
    assert_one_line_refusal(start_up(tmp_path, data), "not a database", str(data))


def test_a_file_in_place_of_the_data_folder_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.write_text("a file where the folder should be")
    assert_one_line_refusal(start_up(tmp_path, data), str(data))


@pytest.mark.parametrize(
    "in_the_way",
    [
        "amqpd.sqlite3",
        "amqpd.lock",
        "amqpd.sqlite3-wal",
    ],
)
def test_a_folder_in_place_of_a_store_file_stops_start_up_with_one_line(tmp_path, in_the_way):
    data = tmp_path / "data"
    (data / in_the_way).mkdir(parents=True)
    assert_one_line_refusal(start_up(tmp_path, data), in_the_way)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder")
def test_a_folder_without_permissions_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        assert_one_line_refusal(start_up(tmp_path, data), str(data))
    finally:
        data.chmod(0o700)


def test_data_dir_that_cannot_be_created_exits_2_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data_dir = blocker / "data"
    result = run_amqpd(tmp_path, "--port", "0", "--data-dir", str(data_dir))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(data_dir) in lines[0]


def test_a_second_broker_on_the_same_folder_is_refused(tmp_path, killed):
    assert_one_line_refusal(start_up(tmp_path, killed.data_dir), "in use", str(killed.data_dir))
    with pytest.raises(RuntimeError) as caught:
        BrokerThread(BrokerConfig(data_dir=str(killed.data_dir))).start()
    cause = caught.value.__cause__
    while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
        cause = cause.exceptions[0]  # BrokerThread's nursery wraps it
    assert isinstance(cause, StoreError) and "in use" in str(cause), repr(cause)
    assert exists(killed, "exchange", "amq.direct")  # the first broker serves on


def test_a_clean_stop_leaves_nothing_to_recover_and_a_kill_is_noticed(killed):
    channel = killed.channel()
    channel.queue_declare("clean", durable=True)
    channel.basic_publish("", "clean", b"kept", PERSISTENT)
    killed.drop_clients()
    assert killed.process.terminate() == 0
    killed.start()
    assert "unclean" not in killed.process.log() and "torn" not in killed.process.log()
    assert killed.process.restored()[3] == 1
    killed.restart()
    assert "unclean stop" in killed.process.log(), killed.process.log()
    assert count(killed.channel(), "clean") == 1


def test_a_torn_write_ahead_log_recovers_what_was_confirmed_before_it(killed):
    channel = killed.channel()
    channel.queue_declare("torn", durable=True)
    channel.confirm_delivery()
    channel.basic_publish("", "torn", b"confirmed", PERSISTENT)
    wal = killed.data_dir / "amqpd.sqlite3-wal"
    before = wal.stat().st_size
    channel.basic_publish("", "torn", b"torn away", PERSISTENT)
    killed.stop(barrier=False)
    size = wal.stat().st_size
    assert size > before
    with open(wal, "r+b") as fh:
        page_size = int.from_bytes(fh.read(32)[8:12], "big")
        fh.truncate(size - (24 + page_size) // 2)  # cut inside the last frame
    killed.start()
    log = killed.process.log()
    assert re.search(r"WARNING .*torn", log), log
    channel = killed.channel()
    assert bodies(channel, "torn") == [b"confirmed"]
    assert killed.process.restored()[3] == 1, log
