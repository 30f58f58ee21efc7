"""Synthetic census workbooks of realistic rows, 1 % of them bad in many different ways."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import xlsxwriter

from coc_intake import agreements, schemas

KEYS = list(schemas.fields())
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernández", "O'Brien", "Nguyen", "Kim", "Müller", "Rossi", "Dubois", "Kowalski", "Tanaka", "Larsen"]
FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "José", "Zoë", "Wei", "Aoife", "Lars", "Ingrid", "Kenji", "Anna", "Marco", "Claire"]
EMPLOYERS = [(f"{p:02d}-{random.Random(p).randint(1000000, 9999999)}", f"Employer {p} Inc", st, z)
             for p, st, z in [(12, "MA", "02110"), (31, "CT", "06103"), (45, "NY", "10001"), (94, "CA", "94105"),
                              (27, "NJ", "07302"), (36, "IL", "60601"), (52, "TX", "75201"), (83, "WA", "98101")]]
HOSTS = sorted({a.country for a in agreements.all_agreements().values()})
CITY = {"GB": ("London", "England"), "CA": ("Toronto", "ON"), "FR": ("Paris", None), "JP": ("Tokyo", None)}


def _good(rng: random.Random, i: int) -> dict[str, object]:
    ein, name, state, zip_code = EMPLOYERS[i % len(EMPLOYERS)]
    host = HOSTS[rng.randrange(len(HOSTS))]
    start = dt.date(2027, 1, 1) + dt.timedelta(days=rng.randrange(300))
    end = start + dt.timedelta(days=rng.randrange(60, 1500))
    city, region = CITY.get(host, ("Capital", None))
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return {
        "employer_ein": ein, "employer_name": name, "employer_street": f"{rng.randrange(1, 999)} Main St",
        "employer_city": "Springfield", "employer_state": state, "employer_zip": zip_code, "worker_type": "employee",
        "last_name": rng.choice(LAST), "first_name": rng.choice(FIRST), "middle_initial": rng.choice("ABCDEJ"),
        "ssn": f"{area:03d}-{(i % 99) + 1:02d}-{(i // 99) % 9999 + 1:04d}",
        "date_of_birth": dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(14000)),
        "place_of_birth": "Springfield, United States", "citizenship": "US", "residence_country": "US",
        "hire_date": dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(4000)), "host_country": host,
        "assignment_start": start, "assignment_end": end, "foreign_employer_name": f"{name} {host}",
        "worksite_city": city, "worksite_address": "1 High Street", "worksite_region": region,
        "employed_by": "US employer", "section_3121l_date": None,
        "health_insurance": "Y" if host in ("FR", "JP") else None, "business_nature": None,
        "contact_email": f"mobility{i % len(EMPLOYERS)}@employer.example",
    }


_MISTAKES = [
    ("ssn", "000-12-3456"), ("ssn", "12345"), ("employer_ein", "07-1234567"), ("date_of_birth", "13/31/1980"),
    ("host_country", "Mexico"), ("host_country", "Atlantis"), ("contact_email", "not-an-address"),
    ("employer_zip", "ABCDE"), ("last_name", None), ("worker_type", "contractor"), ("last_name", "Sm1th"),
    ("assignment_end", dt.date(2026, 1, 1)), ("hire_date", dt.date(2030, 1, 1)), ("host_country", "US"),
    ("citizenship", "DE"), ("employed_by", "foreign affiliate"), ("date_of_birth", dt.date(2020, 1, 1)),
]


def row(rng: random.Random, i: int) -> dict[str, object]:
    r = _good(rng, i)
    if i % 100 == 37:  # 1 % bad, spread over many codes
        key, value = _MISTAKES[(i // 100) % len(_MISTAKES)]
        if key == "citizenship":
            r["residence_country"] = "DE"
        r[key] = value
    return r


def write_workbook(path: Path, rows: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    ws = wb.add_worksheet("Assignments")
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, [schemas.fields()[k].label for k in KEYS])
    for i in range(rows):
        r = row(rng, i)
        for c, k in enumerate(KEYS):
            v = r.get(k)  # an optional field the generator does not fill (request_type) stays blank
            if v is None:
                continue
            if isinstance(v, dt.date):
                ws.write_datetime(i + 1, c, dt.datetime.combine(v, dt.time()), date)
            else:
                ws.write_string(i + 1, c, str(v))
    wb.close()
    return path
