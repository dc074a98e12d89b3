"""A broker process's resident memory, read from /proc (Linux): now, and over a run."""

from __future__ import annotations

import statistics
import threading
import time


def rss_of(pid: int | None) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak since start) of a process, in bytes;
    empty if the process is unknown or gone."""
    if not pid:
        return {}
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


class MemorySampler:
    """Samples a process's VmRSS every ``interval`` seconds on a thread while in a
    with-block: ``samples`` as (seconds since start, bytes), ``peak``, ``median``."""

    def __init__(self, pid: int | None, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        began = time.monotonic()
        while True:
            rss = rss_of(self.pid).get("VmRSS")
            if rss:
                self.samples.append((time.monotonic() - began, rss))
            if self._stop.wait(self.interval):
                return

    @property
    def last(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    @property
    def peak(self) -> int | None:
        return max((r for _, r in self.samples), default=None)

    @property
    def median(self) -> float | None:
        return statistics.median(r for _, r in self.samples) if self.samples else None
