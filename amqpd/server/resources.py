"""Resource alarms: the memory high watermark and the disk free limit.

As in RabbitMQ, while either alarm is on, connections that publish are
blocked: clients that advertised the connection.blocked capability are told
so, and the broker stops reading from them until the alarm clears. Consumers
keep draining. Both limits are checked every ``interval`` seconds.

The memory rule. The process's resident memory (RSS) is what counts, so no
allocation dodges the alarm. But memory the broker frees (a purge, a drained
backlog) mostly stays mapped: the allocator keeps it for reuse, and RSS does
not fall. So while RSS is above the watermark:

1. the monitor gives back what the allocator can (a garbage collection, then
   glibc's ``malloc_trim`` where there is one) and reads RSS again;
2. if RSS is still above it, the message bytes the broker has let go since RSS
   crossed the watermark are taken off: memory in use counts as
   ``RSS - (peak held - held now)``, where "held" is what the model holds in
   memory (``Broker.memory_held``: ready and unacked bodies) and "peak held" the
   most it held while RSS stayed above the watermark.

So the alarm clears once the broker holds less than it did, by as much as RSS
is over the watermark; new messages then reuse the freed memory, and as they
fill it the count climbs back to RSS. RSS growing always counts in full. The
credit lasts until RSS itself falls below the watermark.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def resident_memory() -> int:
    """This process's resident set size in bytes (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def disk_free(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system of ``path``; a folder not made yet (the
    memory store never makes one) is measured where it would be made. None
    if nothing can be measured."""
    place = Path(path).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        return shutil.disk_usage(place).free
    except OSError:
        return None


def total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), which hands free heap pages back to the system."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the system back what the allocators hold unused, where they allow it."""
    gc.collect()
    if _TRIM is not None:
        _TRIM()


class ResourceMonitor:
    def __init__(
        self,
        memory_limit: int,
        disk_limit: int,
        data_dir: str,
        memory_used: Callable[[], int] = resident_memory,
        memory_held: Callable[[], int] = lambda: 0,
        release_memory: Callable[[], None] = release_free_memory,
    ) -> None:
        self.memory_limit = memory_limit
        self.disk_limit = disk_limit
        self.data_dir = data_dir
        self._memory_used = memory_used
        self._memory_held = memory_held
        self._release_memory = release_memory
        self.reason: str | None = None  # the connection.blocked reason while an alarm is on
        self._held_peak: int | None = None  # while RSS is above the limit (see the rule)
        self._released_at: int | None = None  # held bytes when memory was last given back

    def check(self) -> bool:
        """Re-read both resources; True if the alarm state changed."""
        alarms = []
        if self.memory_in_use() > self.memory_limit:
            alarms.append("memory")
        free = disk_free(self.data_dir)
        if free is not None and free < self.disk_limit:
            alarms.append("disk")
        reason = f"low on {' & '.join(alarms)}" if alarms else None
        changed = reason != self.reason
        self.reason = reason
        return changed

    def memory_in_use(self) -> int:
        """The memory the alarm compares with the watermark (see the module's rule)."""
        rss = self._memory_used()
        if rss <= self.memory_limit:
            self._held_peak = self._released_at = None
            return rss
        held = self._memory_held()
        # Giving memory back costs a full collection: only when there is some to
        # give, on first crossing the watermark and after the broker let go of more.
        if self._released_at is None or held < self._released_at * 0.9:
            self._released_at = held
            self._release_memory()
            rss = self._memory_used()
            if rss <= self.memory_limit:
                self._held_peak = self._released_at = None
                return rss
        peak = held if self._held_peak is None else max(self._held_peak, held)
        self._held_peak = peak
        return rss - (peak - held)
