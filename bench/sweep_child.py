"""Run one sweep in a fresh process and report its time and peak memory as JSON.

The peak is this process's own: ``VmHWM`` (the high-water mark of its address space, new
at exec). ``ru_maxrss`` would not do: Linux carries it across fork and exec, so a child
of a 500 MB bench parent reports at least 500 MB however little it uses.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

from persistence import CaseStore, make_engine


def _peak_rss_mb() -> float:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: the inherited figure is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024  # kB


def main() -> None:
    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    import_rss = _peak_rss_mb()
    store = CaseStore(make_engine(url))
    started = time.perf_counter()
    report = store.sweep(now)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "fired": report.total,
                "max_rss_mb": _peak_rss_mb(),
                "import_rss_mb": import_rss,
            }
        )
    )


if __name__ == "__main__":
    main()
