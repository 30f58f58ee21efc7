"""How long `coc referrals list` takes over 100k referred requests: ``python -m benchmarks.bench_referrals``.

1,000 committed batches of 100 referred requests each (their request documents, ``referrals.parquet`` and
manifest, written through the library's own writers), 10 % of them decided, in a temporary outbox. Each figure is
the wall time of the command in a fresh process (Python's start and imports included): the first listing, which
joins the 1,000 batch indexes into ``referrals/index.parquet``, then listings that read the joined index, then one
after a new batch was committed (the index brings itself up to date), and a filtered one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from coc_intake import agreements, referral_index
from coc_intake.catalog import REFERRAL_CODES
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _document(rng: random.Random, batch_id: str, as_of: dt.date, row: int, host: str) -> dict[str, Any]:
    rid = f"COC-{host}-{''.join(rng.choice(_ALPHABET) for _ in range(10))}"
    reasons = rng.sample(sorted(REFERRAL_CODES), rng.choice((1, 1, 1, 2)))
    return {
        "request_id": rid, "batch_id": batch_id, "status": "referred", "referral_reasons": reasons, "warnings": [],
        "agreement": {"country": host, "code": host}, "source": {"file": "census.xlsx", "sheet": "Assignments",
                                                                  "row": row},
        "employer": {"ein": f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}", "name": "Employer Inc"},
        "worker": {"last_name": "Worker", "first_name": f"N{row}", "ssn": f"123-45-{rng.randint(1000, 9999)}"},
        "assignment": {"host_country": host, "start": "2027-01-01", "end": "2033-12-31"},
        "contact_email": None, "as_of": as_of.isoformat(),
    }


def write_batch(outbox: Outbox, rng: random.Random, b: int, per_batch: int, day: dt.date) -> list[str]:
    """One committed batch of ``per_batch`` referred requests; their IDs."""
    batch_id = f"{b:016x}"
    hosts = sorted({a.country for a in agreements.all_agreements().values()})
    docs = [_document(rng, batch_id, day, row, rng.choice(hosts)) for row in range(2, per_batch + 2)]
    outbox.write_requests(batch_id, [(d["request_id"], orjson.dumps(d)) for d in docs])
    outbox.write_referrals(batch_id, referral_index.to_parquet(referral_index.of_documents(docs, batch_id, day)))
    ids = [d["request_id"] for d in docs]
    outbox.stage(batch_id, orjson.dumps({"batch_id": batch_id, "as_of": day.isoformat(), "referred": per_batch,
                                         "request_ids": sorted(ids)}))
    outbox.commit(batch_id)
    return ids


def write_outbox(root: Path, batches: int, per_batch: int, decided: float, seed: int = 5) -> None:
    outbox = Outbox(LocalStore(root))
    rng = random.Random(seed)
    start = dt.date.today() - dt.timedelta(days=batches // 10)
    for b in range(batches):
        ids = write_batch(outbox, rng, b, per_batch, start + dt.timedelta(days=b // 10))
        for rid in rng.sample(ids, int(len(ids) * decided)):
            outbox.add_decision(rid, {"request_id": rid, "batch_id": f"{b:016x}", "decision": "approved",
                                      "note": "ok", "by": "bench", "at": "2026-12-01T00:00:00+00:00"})


def timed(*args: str) -> float:
    exe = Path(sys.executable).with_name("coc")
    t0 = time.perf_counter()
    done = subprocess.run([str(exe), "referrals", "list", *args], capture_output=True, check=True)
    elapsed = time.perf_counter() - t0
    if not done.stdout:  # pragma: no cover - a listing always says something
        raise RuntimeError("coc referrals list printed nothing")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--per-batch", type=int, default=100)
    parser.add_argument("--decided", type=float, default=0.1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coc-referrals-bench-") as tmp:
        root = Path(tmp) / "outbox"
        t0 = time.perf_counter()
        write_outbox(root, args.batches, args.per_batch, args.decided)
        total = args.batches * args.per_batch
        print(f"wrote {total:,} referred requests in {args.batches:,} batches, {int(total * args.decided):,} "
              f"decided, in {time.perf_counter() - t0:.1f} s")
        where = ["--outbox", str(root)]
        subprocess.run(["sync"], check=False)
        python = Path(sys.executable)
        t0 = time.perf_counter()
        subprocess.run([str(python), "-c", "import coc_intake.cli, coc_intake.referrals"], check=True)
        print(f"python start and imports alone: {time.perf_counter() - t0:.2f} s")
        print(f"first listing (joins the batch indexes): {timed(*where):.2f} s")
        warm = [timed(*where) for _ in range(3)]
        print(f"listing from the joined index: {', '.join(f'{t:.2f}' for t in warm)} s")
        print(f"--json --limit 0 (every referral): {timed(*where, '--json', '--limit', '0'):.2f} s")
        print(f"--reason exceeds-detachment-limit --host DE: "
              f"{timed(*where, '--reason', 'exceeds-detachment-limit', '--host', 'DE'):.2f} s")
        write_batch(Outbox(LocalStore(root)), random.Random(9), args.batches, args.per_batch, dt.date.today())
        print(f"after one more batch (the index adds it): {timed(*where):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
