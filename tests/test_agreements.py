"""The agreements as data (their boundary codes: docs/errors.md; agreements-research.md §1 and §2).

The expected values are written here, not read from the TOML files, so that an edit to the data that changes a
date or a limit fails a test.
"""

from __future__ import annotations

import datetime as dt

import pytest

from coc_intake import agreements, countries

D = dt.date

#: code → (entry into force of the first agreement, detached-worker limit in months).
#: Dates: agreements-research.md §1 (POMS GN 01701.005 / GN 01703.001).
#: Limits: the product contract's, as ``coc agreements`` prints them (docs/commands.md#coc-agreements).
EXPECTED: dict[str, tuple[dt.date, int | None]] = {
    "AU": (D(2002, 10, 1), 60),
    "AT": (D(1991, 11, 1), 60),
    "BE": (D(1984, 7, 1), 60),
    "BR": (D(2018, 10, 1), 60),
    "CA": (D(1984, 8, 1), 60),
    "CA-QC": (D(1984, 8, 1), 60),
    "CL": (D(2001, 12, 1), 60),
    "CZ": (D(2009, 1, 1), 60),
    "DK": (D(2008, 10, 1), 60),
    "FI": (D(1992, 11, 1), 60),
    "FR": (D(1988, 7, 1), 60),
    "DE": (D(1979, 12, 1), 60),
    "GR": (D(1994, 9, 1), 60),
    "HU": (D(2016, 9, 1), 60),
    "IS": (D(2019, 3, 1), 60),
    "IE": (D(1993, 9, 1), 60),
    "IT": (D(1978, 11, 1), None),
    "JP": (D(2005, 10, 1), 60),
    "KR": (D(2001, 4, 1), 60),
    "LU": (D(1993, 11, 1), 60),
    "NL": (D(1990, 11, 1), 60),
    "NO": (D(1984, 7, 1), 60),
    "PL": (D(2009, 3, 1), 60),
    "PT": (D(1989, 8, 1), 60),
    "SK": (D(2014, 5, 1), 60),
    "SI": (D(2019, 2, 1), 60),
    "ES": (D(1988, 4, 1), 60),
    "SE": (D(1987, 1, 1), 60),
    "CH": (D(1980, 11, 1), 60),
    "GB": (D(1985, 1, 1), 60),
    "UY": (D(2018, 11, 1), 60),
}

#: Verified for edition 2026.2 (agreements-research.md): residence, except Slovenia (place of work).
VERIFIED_SELF_EMPLOYMENT = {"IE": "residence", "IS": "residence", "LU": "residence", "NL": "residence",
                            "ES": "residence", "SI": "place-of-work"}


def test_expected_table_itself_has_30_agreements_and_the_quebec_understanding() -> None:
    assert len(EXPECTED) == 31
    assert "CA-QC" in EXPECTED


def test_there_are_exactly_30_agreements_plus_the_quebec_understanding() -> None:
    found = agreements.all_agreements()
    assert len(found) == 31
    assert set(found) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_agreement_entry_into_force_date_is_pinned(code: str) -> None:
    assert agreements.all_agreements()[code].in_force_since == EXPECTED[code][0]


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_agreement_detached_worker_limit_is_pinned(code: str) -> None:
    assert agreements.all_agreements()[code].max_months == EXPECTED[code][1]


def test_only_italy_has_no_detached_worker_limit() -> None:
    without = {c for c, a in agreements.all_agreements().items() if a.max_months is None}
    assert without == {"IT"}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_agreement_code_matches_its_country(code: str) -> None:
    a = agreements.all_agreements()[code]
    assert a.code == code
    assert a.country == ("CA" if code == "CA-QC" else code)
    assert a.name.strip()


def test_quebec_understanding_is_canada_region_qc() -> None:
    qc = agreements.all_agreements()["CA-QC"]
    assert qc.country == "CA"
    assert qc.region == "QC"


@pytest.mark.parametrize("territory", ["IM", "JE", "GG"])
def test_crown_dependencies_belong_to_the_united_kingdom_agreement(territory: str) -> None:
    assert agreements.territory_owner()[territory] == "GB"
    host = countries.resolve_host(territory)
    assert host is not None
    assert (host.agreement, host.status, host.territory) == ("GB", "ok", True)


def test_the_attached_territories_are_the_crown_dependencies_the_french_overseas_departments_and_aland() -> None:
    # Edition 2026.2 (docs/fields.md#host_country): GP, MQ, GF, RE → FR and AX → FI joined IM, JE, GG → GB.
    assert agreements.territory_owner() == {"IM": "GB", "JE": "GB", "GG": "GB", "GP": "FR", "MQ": "FR", "GF": "FR",
                                            "RE": "FR", "AX": "FI"}


@pytest.mark.parametrize("territory", ["GL", "FO"])
def test_greenland_and_faroe_islands_are_excluded_from_the_danish_agreement(territory: str) -> None:
    assert territory in agreements.excluded_territories()
    assert territory in agreements.all_agreements()["DK"].excluded_territories
    assert territory not in agreements.all_agreements()
    assert territory not in agreements.territory_owner()
    host = countries.resolve_host(territory)
    assert host is not None
    assert host.status == "no-agreement"
    assert host.agreement is None


def test_australia_does_not_cover_the_self_employed() -> None:
    assert agreements.all_agreements()["AU"].self_employment == "not-covered"


@pytest.mark.parametrize("code", sorted(VERIFIED_SELF_EMPLOYMENT))
def test_the_verified_self_employment_rules_of_ie_is_lu_nl_es_si(code: str) -> None:
    assert agreements.all_agreements()[code].self_employment == VERIFIED_SELF_EMPLOYMENT[code]


def test_italy_uses_the_nationality_rule() -> None:
    assert agreements.all_agreements()["IT"].self_employment == "nationality"


def test_france_limits_self_employed_transfers_to_24_months() -> None:
    fr = agreements.all_agreements()["FR"]
    assert fr.self_employed_max_months == 24
    assert fr.max_months == 60


def test_france_and_japan_require_health_insurance() -> None:
    needing = {c for c, a in agreements.all_agreements().items() if "health_insurance" in a.requires}
    assert needing == {"FR", "JP"}
    assert agreements.all_agreements()["FR"].health_insurance_must_be == "Y"


def test_united_kingdom_and_canada_require_a_worksite_region() -> None:
    needing = {c for c, a in agreements.all_agreements().items() if "worksite_region" in a.requires}
    assert {"GB", "CA"} <= needing
    assert needing <= {"GB", "CA", "CA-QC"}
    assert set(agreements.all_agreements()["GB"].worksite_regions) == {
        "England", "Scotland", "Wales", "Northern Ireland"}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_agreement_names_at_least_one_source(code: str) -> None:
    sources = agreements.all_agreements()[code].sources
    assert len(sources) >= 1
    assert all(isinstance(s, str) and s.strip() for s in sources)


def test_mexico_signed_but_not_in_force_has_no_agreement() -> None:
    assert "MX" not in agreements.all_agreements()
    host = countries.resolve_host("MX")
    assert host is not None and host.status == "no-agreement"
