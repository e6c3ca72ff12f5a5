"""Benchmark of the submission pack: time and peak memory, recorded in bench/RESULTS.md.

    python -m bench.pack                  # 10,000-signature pack, 10,000-row list PDF,
                                          # 100,000-row CSV + XLSX; prints a Markdown table
    python -m bench.pack --record         # ... and writes it into bench/RESULTS.md

Each measurement runs in a fresh child process, so its peak resident memory (ru_maxrss)
is its own and not the data set-up's.  The database is SQLite in a temporary directory
unless BENCH_DATABASE_URL names another (PostgreSQL, say).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
NOTE = (
    "The list PDF is most of the pack's time (HarfBuzz shapes only names beyond Latin). "
    "Of XLSX's CPU time for 100,000 rows, the snapshot it shares with CSV (read and "
    "decrypt) is ~1.4 s and XlsxWriter ~2.2–2.4 s, its own cost per cell (~4.7 µs; timed "
    "apart on 2026-11-27), so XLSX stays short of 50,000 rows/s. Memory stays flat because "
    "every list is streamed from one temporary snapshot."
)
SECTION = "## Submission pack (bench/pack.py)"
DATA_KEY = "YmVuY2gtZGF0YS1rZXktZm9yLWJlbmNobWFya3MtMzI="
NAMES = [
    "Åsa Öberg", "Amira Hassan", "أمينة حسن", "Faadumo Cabdi Maxamed", "Zlatan Ibrahimović",
    "محمد العلي", "Xalimo Maxamuud Cali", "Björn Ängström", "Emina Hodžić", "Sara Karimi",
]  # fmt: skip


def _config(database_url: str, instance: str) -> dict[str, Any]:
    return {
        "APP_ENV": "testing",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "DATA_KEY": DATA_KEY,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": instance,
        "RATELIMIT_ENABLED": False,
    }


def prepare(database_url: str, instance: str, rows: int) -> None:
    """An initiative with ``rows`` confirmed signatures over three channels."""
    import sqlalchemy as sa

    from initiatives import clock, create_app
    from initiatives.extensions import db
    from initiatives.models import Initiative, InitiativeText, Signature

    app = create_app(_config(database_url, instance))
    rng = random.Random(5)
    with app.app_context():
        db.drop_all()
        db.create_all()
        now = clock.utcnow()
        initiative = Initiative(
            slug="amiralsgatan",
            state="closed",
            threshold=100,
            opens_at=now - timedelta(days=120),
            closes_at=now - timedelta(days=1),
        )
        initiative.texts.append(
            InitiativeText(locale="sv", title="Tryggare Amiralsgatan", summary="S", body="B")
        )
        initiative.text_hash = initiative.compute_text_hash()
        db.session.add(initiative)
        db.session.commit()
        box = app.extensions["data_crypto"]
        batch = []
        for i in range(rows):
            channel = rng.choices(["web", "kiosk", "paper"], [70, 20, 10])[0]
            batch.append(
                {
                    "public_id": f"{i:032x}",
                    "initiative_id": initiative.id,
                    "state": "confirmed",
                    "channel": channel,
                    "locale": "sv",
                    "text_hash": initiative.text_hash,
                    "name_enc": box.encrypt(f"{rng.choice(NAMES)} {i}"),
                    "postcode_area": rng.choice(["212", "213", "214", None]),
                    "created_at": now - timedelta(minutes=i),
                    "confirmed_at": now - timedelta(minutes=i),
                }
            )
            if len(batch) == 5000:
                db.session.execute(sa.insert(Signature), batch)
                batch = []
        if batch:
            db.session.execute(sa.insert(Signature), batch)
        initiative.confirmed_count = rows
        db.session.commit()
        db.engine.dispose()


def measure(kind: str, database_url: str, instance: str) -> dict[str, Any]:
    """Run one measurement in this (child) process."""
    import sqlalchemy as sa

    from initiatives import create_app, pack, pack_pdf
    from initiatives.extensions import db
    from initiatives.models import Initiative

    app = create_app(_config(database_url, instance))
    with app.app_context(), tempfile.TemporaryDirectory() as tmp:
        initiative = db.session.scalars(sa.select(Initiative)).one()
        work = Path(tmp)
        start, cpu_start = time.perf_counter(), time.process_time()
        if kind == "pack":
            result = pack.build(
                initiative, work, generated_by="bench", organisation="Bench", contact="-"
            )
            rows, size = result.total, result.path.stat().st_size
        else:
            snap = pack.snapshot(initiative, work / "rows.csv")
            rows = snap.total
            if kind == "csv":
                with (work / "l.csv").open("wb") as handle:
                    pack.write_csv(snap.rows(), handle)
                size = (work / "l.csv").stat().st_size
            elif kind == "xlsx":
                pack.write_xlsx(snap.rows(), work / "l.xlsx", [("Initiativ", "x")])
                size = (work / "l.xlsx").stat().st_size
            else:  # the list PDF
                from initiatives.pack_texts import PackInfo

                info = PackInfo.of(
                    initiative, snap, names="full", now=snap_now(), organisation="B", contact=""
                )
                pack_pdf.write_list(snap.rows, work / "l.pdf", info)
                size = (work / "l.pdf").stat().st_size
        seconds = time.perf_counter() - start
        db.session.rollback()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "kind": kind,
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_start,
        "peak_mb": usage.ru_maxrss / 1024,
        "bytes": size,
    }


def snap_now() -> Any:
    from initiatives import clock

    return clock.utcnow()


def _best(kind: str, database_url: str, instance: str, repeats: int) -> dict[str, Any]:
    """The fastest of ``repeats`` runs: on a shared machine, the least disturbed one."""
    runs = [_child(kind, database_url, instance) for _ in range(repeats)]
    return min(runs, key=lambda r: r["seconds"])


def _child(kind: str, database_url: str, instance: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.pack", "--child", kind, "--database", database_url,
         "--instance", instance],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        ram = "RAM unknown"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {ram}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def run(pack_rows: int, list_rows: int, repeats: int) -> str:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        results = []
        prepare(url, tmp, pack_rows)
        results.append(
            ("Whole pack (ZIP: 2 PDFs, XLSX, CSV, manifest)", _best("pack", url, tmp, repeats))
        )
        results.append(("List PDF alone", _best("pdf", url, tmp, repeats)))
        prepare(url, tmp, list_rows)
        results.append(("CSV (read, decrypt, write)", _best("csv", url, tmp, repeats)))
        results.append(("XLSX (read, decrypt, write)", _best("xlsx", url, tmp, repeats)))
    engine = "PostgreSQL" if "postgres" in url else "SQLite"
    lines = [
        "| what | rows | wall time | CPU time | rows/s (wall) | peak memory (RSS) | output |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in results:
        lines.append(
            f"| {label} | {r['rows']:,} | {r['seconds']:.1f} s | {r['cpu_seconds']:.1f} s "
            f"| {r['rows'] / r['seconds']:,.0f} "
            f"| {r['peak_mb']:.0f} MB | {r['bytes'] / 1e6:.1f} MB |"
        )
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured {time.strftime('%Y-%m-%d')} with `python -m bench.pack --record` on "
            f"{machine()}; database {engine}. Each row is the fastest of {repeats} runs, each "
            "in a fresh process; peak memory is that process's maximum resident set, the "
            "interpreter and the app included. CPU time is the process's own (user + system), "
            "which other work on the machine disturbs less than wall time. The machine was "
            f"shared with other work while measuring (1-minute load average {load:.1f} at the "
            "start), so wall times are pessimistic.",
            "",
            *lines,
            "",
            NOTE,
            "",
        ]
    )


def record(section: str) -> None:
    """Replace this benchmark's own section of RESULTS.md, leaving the others alone."""
    text = RESULTS.read_text("utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    if SECTION in text:
        before, _, after = text.partition(SECTION)
        rest = after.split("\n## ", 1)
        after = ("\n## " + rest[1]) if len(rest) > 1 else ""
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000, help="signatures in the pack")
    parser.add_argument("--list-rows", type=int, default=100_000, help="rows for CSV + XLSX")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--record", action="store_true", help="write into bench/RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.database, args.instance)))
        return
    section = run(args.rows, args.list_rows, args.repeats)
    print(section)
    if args.record:
        record(section)


if __name__ == "__main__":
    main()
