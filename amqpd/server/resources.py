"""Resource alarms: the memory high watermark and the disk free limit.

As in RabbitMQ, while either alarm is on, connections that publish are
blocked: clients that advertised the connection.blocked capability are told
so, and the broker stops reading from them until the alarm clears. Consumers
keep draining. Both limits are checked every ``interval`` seconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable


def resident_memory() -> int:
    """This process's resident set size in bytes (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class ResourceMonitor:
    def __init__(
        self,
        memory_limit: int,
        disk_limit: int,
        data_dir: str,
        memory_used: Callable[[], int] = resident_memory,
    ) -> None:
        self.memory_limit = memory_limit
        self.disk_limit = disk_limit
        self.data_dir = data_dir
        self._memory_used = memory_used
        self.reason: str | None = None  # the connection.blocked reason while an alarm is on

    def check(self) -> bool:
        """Re-read both resources; True if the alarm state changed."""
        alarms = []
        if self._memory_used() > self.memory_limit:
            alarms.append("memory")
        try:
            if shutil.disk_usage(self.data_dir).free < self.disk_limit:
                alarms.append("disk")
        except OSError:
            pass
        reason = f"low on {' & '.join(alarms)}" if alarms else None
        changed = reason != self.reason
        self.reason = reason
        return changed
