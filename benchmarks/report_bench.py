"""How long the analysts' report takes over 1,000 committed batches: ``python -m benchmarks.report_bench``.

Synthetic manifests with realistic breakdowns (8 employers, 30 host countries, a dozen codes; per employer its
codes and fields, per host country its referral reasons, a host typed but not recognised, and the top 20 rejected
values of 6 fields) are written into a temporary outbox; the figure is the wall time of `coc report` (reading every
manifest, building, rendering both files), measured in a fresh process.
"""

from __future__ import annotations

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
from coc_intake.catalog import CATALOG, REFERRAL_CODES
from coc_intake.outbox import Outbox
from coc_intake.store import LocalStore

BATCHES = 1000


def write_outbox(root: Path, batches: int = BATCHES, seed: int = 3) -> None:
    outbox = Outbox(LocalStore(root))
    rng = random.Random(seed)
    hosts = sorted({a.country for a in agreements.all_agreements().values()})
    codes = [c for c, v in CATALOG.items() if v.scope == "cell" and v.severity == "error"]
    reasons = sorted(REFERRAL_CODES)
    value_fields = ["ssn", "host_country", "employer_ein", "assignment_start", "citizenship", "worksite_region"]
    for b in range(batches):
        batch_id = f"{b:016x}"
        rows = rng.randint(20, 2000)
        rejected = rng.randint(0, rows // 20)
        referred = rng.randint(0, rows // 50)
        countries: list[dict[str, Any]] = []
        left = rows
        for host in rng.sample(hosts, 5):
            n = left if host == hosts[-1] else rng.randint(0, left)
            left -= n
            countries.append({"country": host, "rows": n, "approved": n, "referred": 0, "rejected": 0})
        countries[0]["rows"] += left
        countries[0]["rejected"] = rejected
        countries[0]["referred"] = referred
        countries[0]["approved"] = countries[0]["rows"] - rejected - referred
        for c in countries:
            c["referrals"] = {}
        countries[0]["referrals"] = {rng.choice(reasons): referred} if referred else {}
        countries.append({"country": "", "typed": rng.choice(["Deutschland ", "Allemagne", "Germania"]), "rows": 0,
                          "approved": 0, "referred": 0, "rejected": 0, "referrals": {}})
        error_counts = {c: rng.randint(1, 30) for c in rng.sample(codes, 6)} | countries[0]["referrals"]
        doc = {
            "batch_id": batch_id, "source_name": f"census-{b}.xlsx", "sha256": batch_id * 4, "size_bytes": 1,
            "as_of": (dt.date(2026, 1, 1) + dt.timedelta(days=b % 330)).isoformat(), "template_edition": None,
            "sheet": "Assignments", "header_row": 1, "status": "processed", "rows": rows,
            "approved": rows - rejected - referred, "referred": referred, "rejected": rejected,
            "error_counts": error_counts, "file_errors": [],
            "request_ids": [f"COC-DE-{i:010d}" for i in range(rows - rejected)],
            "breakdown": {
                "employers": [{"ein": f"{10 + b % 8}-1234567", "name": f"Employer {b % 8}", "rows": rows,
                               "approved": rows - rejected - referred, "referred": referred, "rejected": rejected,
                               "codes": error_counts, "fields": {f: rng.randint(1, 20) for f in value_fields}}],
                "host_countries": countries,
                "rejecting_fields": {"ssn": rejected, "date_of_birth": rng.randint(0, 5)},
                "rejected_values": {f: [{"value": f"value {f} {rng.randint(0, 60)}", "code": rng.choice(codes),
                                         "count": rng.randint(1, 40)} for _ in range(20)] for f in value_fields},
            },
        }
        # The batch's referrals, as intake writes them beside its manifest (the queue's and the report's index).
        outbox.write_referrals(batch_id, referral_index.to_parquet(referral_index.of_columns({
            "request_id": [f"COC-DE-R{b:04d}{i:05d}" for i in range(referred)], "row": list(range(2, referred + 2)),
            "host": [countries[0]["country"]] * referred, "agreement": [countries[0]["country"]] * referred,
            "employer_ein": [f"{10 + b % 8}-1234567"] * referred, "employer_name": [f"Employer {b % 8}"] * referred,
            "worker": ["Doe, Jane"] * referred, "ssn_last4": ["6789"] * referred,
            "reasons": [list(countries[0]["referrals"])] * referred,
        }, batch_id, dt.date.fromisoformat(str(doc["as_of"])))))
        outbox.stage(batch_id, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        outbox.commit(batch_id)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "outbox"
        write_outbox(root)
        coc = Path(sys.executable).with_name("coc")
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([str(coc), "report", "--outbox", str(root), "--out", str(Path(tmp) / "rep")],
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        print(f"coc report over {BATCHES:,} batches: {min(walls):.2f} s wall (best of 3: "
              f"{', '.join(f'{w:.2f}' for w in walls)}), including the CLI's start-up")


if __name__ == "__main__":
    main()
