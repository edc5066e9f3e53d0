"""Memory of the XLSX writer path (service/results/xlsx.py) as the row count grows.

Each size runs in a fresh process: score-export-shaped rows (the export's columns, five
dimensions, typed values) go through `SheetWriter` in batches of `BATCH_ROWS`, exactly as the
streamed export writes them, then the workbook is closed (zipped) and read back in chunks. It
prints the peak RSS of the process, tracemalloc's peak of Python allocations (up to 100k rows:
it slows the writer several times over), the file size and
the time. Flat peaks across sizes mean memory does not grow with the row count.

    ./dev python bench/xlsx_memory.py                 # 10k, 100k, 1M rows
    ./dev python bench/xlsx_memory.py 1000000         # one size
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from service.results import feed, xlsx
from service.results.labels import Labeller

TRACE_UP_TO = 100_000  # tracemalloc for sizes up to this; peak RSS for all
DIMENSIONS = ["D1", "D2", "D3", "D4", "D5"]


def _row(i: int, units: dict[str, str]) -> list[object]:
    row = feed.ScoreRow(
        person=f"cand-{i:07d}",
        assessment="bench",
        attempt_id=uuid.UUID(int=i),
        attempt_number=1,
        score_version=1,
        status="final",
        current=True,
        counted=True,
        framework="ai-literacy",
        framework_version=1,
        overall_scaled=round(50 + (i % 500) / 10, 1),
        overall_level="L2",
        dimensions=[
            feed.DimensionResult(d, round(40 + (i * 7 + k) % 600 / 10, 1), "L2")
            for k, d in enumerate(DIMENSIONS)
        ],
        org_unit=f"U{i % 1000:04d}",
        category="civil_servant",
        submitted_at=datetime(2026, 12, 1, tzinfo=UTC),
        scored_at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC),
        reason="submitted",
    )
    return feed.xlsx_row(row, DIMENSIONS, units)


def measure(rows: int, trace: bool) -> dict[str, object]:
    units = {f"U{i:04d}": f"单位{i}" for i in range(1000)}
    labeller = Labeller("zh-CN", {d: {"zh-CN": f"维度{d}", "en": d} for d in DIMENSIONS}, {})
    columns = feed.xlsx_columns(DIMENSIONS)
    if trace:  # slows the writer several times over: RSS alone for the largest size
        tracemalloc.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xlsx-bench-") as folder:
        path = os.path.join(folder, "export.xlsx")
        writer = xlsx.SheetWriter(path, "scores", labeller.columns(columns), columns)
        for start in range(0, rows, xlsx.BATCH_ROWS):
            writer.write([_row(i, units) for i in range(start, min(rows, start + xlsx.BATCH_ROWS))])
        writer.close()
        size = os.path.getsize(path)
        with open(path, "rb") as file:
            while file.read(xlsx.CHUNK_BYTES):
                pass
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    return {
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "file_mb": round(size / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 2) if traced_peak is not None else "-",
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(int(argv[1]), trace=argv[2:] == ["trace"])))
        return 0
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}, "
        f"command: ./dev python bench/xlsx_memory.py {' '.join(argv)}".rstrip()
    )
    print(f"{'rows':>10} {'seconds':>8} {'file MB':>8} {'peak RSS MB':>12} {'tracemalloc peak MB':>20}")
    for rows in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(rows), *(["trace"] if rows <= TRACE_UP_TO else [])],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out)
        print(
            f"{r['rows']:>10,} {r['seconds']:>8} {r['file_mb']:>8} {r['peak_rss_mb']:>12} "
            f"{r['tracemalloc_peak_mb']:>20}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
