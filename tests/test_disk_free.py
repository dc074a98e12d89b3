"""Free disk is measured for a data folder not made yet (the memory store never
makes one): where it would be made, never reported as 0 or as an alarm."""

from __future__ import annotations

import shutil

from amqpd.server.resources import ResourceMonitor, disk_free


def test_a_folder_not_made_yet_is_measured_where_it_would_be(tmp_path):
    missing = tmp_path / "not" / "made" / "yet"
    assert disk_free(missing) == shutil.disk_usage(tmp_path).free > 0


def test_a_folder_not_made_yet_raises_no_disk_alarm(tmp_path):
    monitor = ResourceMonitor(1 << 60, 1, str(tmp_path / "absent"), memory_used=lambda: 0)
    monitor.check()
    assert monitor.reason is None
