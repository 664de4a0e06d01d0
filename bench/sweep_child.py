"""Run one sweep in a fresh process and report its time and peak memory as JSON."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime

from persistence import CaseStore, make_engine


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    import_rss = _rss_mb()
    store = CaseStore(make_engine(url))
    started = time.perf_counter()
    report = store.sweep(now)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "fired": report.total,
                "max_rss_mb": _rss_mb(),
                "import_rss_mb": import_rss,
            }
        )
    )


if __name__ == "__main__":
    main()
