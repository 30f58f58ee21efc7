"""Country names and codes to ISO 3166-1 alpha-2, with pycountry; and which agreement covers a host."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import pycountry

from coc_intake import agreements

#: Spellings people use that pycountry does not list.
_EXTRA = {
    "uk": "GB", "el": "GR", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US", "america": "US",
    "united states of america": "US", "korea": "KR", "republic of korea": "KR", "holland": "NL",
    "the netherlands": "NL", "czech republic": "CZ", "slovak republic": "SK", "russia": "RU",
}
QUEBEC_NAMES = frozenset({"quebec", "ca-qc", "quebec, canada", "province of quebec"})


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching names (Québec → quebec)."""
    text = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@cache
def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for c in pycountry.countries:
        names = [c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)]
        for name in filter(None, names):
            table[fold(name)] = c.alpha_2
            if ", " in name:  # "Korea, Republic of" → "Republic of Korea"
                head, tail = name.split(", ", 1)
                table[fold(f"{tail} {head}")] = c.alpha_2
    table.update(_EXTRA)
    return table


def to_alpha2(text: str) -> str | None:
    return _table().get(fold(text))


def name_of(alpha2: str) -> str:
    country = pycountry.countries.get(alpha_2=alpha2)
    return getattr(country, "common_name", None) or country.name if country else alpha2


@dataclass(frozen=True)
class Host:
    alpha2: str
    agreement: str | None
    """The agreement's code (``GB``, ``CA``, ``CA-QC`` …), or None."""
    status: str
    """``ok``, ``no-agreement`` or ``not-abroad``."""
    territory: bool = False
    quebec: bool = False


def resolve_host(text: str) -> Host | None:
    """The host country typed by the employer, resolved to its agreement; None when it is no country."""
    folded = fold(text)
    if folded in QUEBEC_NAMES:
        return Host("CA", "CA-QC", "ok", quebec=True)
    alpha2 = to_alpha2(text)
    if alpha2 is None:
        return None
    if alpha2 in agreements.US_TERRITORIES:
        return Host(alpha2, None, "not-abroad")
    owner = agreements.territory_owner().get(alpha2)
    if owner:
        return Host(alpha2, owner, "ok", territory=True)
    if alpha2 in agreements.all_agreements():
        return Host(alpha2, alpha2, "ok")
    return Host(alpha2, None, "no-agreement")


def load_tables() -> None:
    """Build the name tables now (pycountry loads its data on first use: ~0.2 s)."""
    _table()
    canada_regions()


@cache
def canada_regions() -> dict[str, str]:
    """Province or territory name or code (folded) → two-letter code."""
    out: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code="CA"):  # type: ignore[no-untyped-call]
        code = sub.code.split("-")[1]
        out[fold(code)] = code
        out[fold(sub.name)] = code
        out[fold(sub.code)] = code
    return out
