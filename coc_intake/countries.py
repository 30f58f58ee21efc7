"""Country names and codes to ISO 3166-1 alpha-2, with pycountry; and which agreement covers a host."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import pycountry
from rapidfuzz import fuzz, process

from coc_intake import agreements, country_names

#: Spellings people use that pycountry does not list.
_EXTRA = {
    "uk": "GB", "el": "GR", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US", "america": "US",
    "united states of america": "US", "korea": "KR", "republic of korea": "KR", "holland": "NL",
    "the netherlands": "NL", "czech republic": "CZ", "slovak republic": "SK", "russia": "RU",
}
QUEBEC_NAMES = frozenset({"quebec", "ca-qc", "quebec, canada", "province of quebec"})


#: Letters with a stroke, which Unicode does not decompose into a letter and an accent (Grønland, Łódź).
_STROKES = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ħ": "h"})
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")
#: A suggestion ("did you mean Germany (DE)?") needs this score (rapidfuzz ratio on the folded texts) and this lead
#: over the best name of any other country; the value needs at least SUGGEST_MIN_LENGTH letters.
SUGGEST_MIN_SCORE = 80.0
SUGGEST_MIN_MARGIN = 10.0
SUGGEST_MIN_LENGTH = 4


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching names (Québec → quebec, Grønland → gronland)."""
    text = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_STROKES)


def _names(name: str) -> list[str]:
    """A name and the forms people type of it: "Korea, Republic of" → "Republic of Korea"; "Sint Maarten (Dutch
    part)" → "Sint Maarten"."""
    forms = [name]
    if ", " in name:
        head, tail = name.split(", ", 1)
        forms.append(f"{tail} {head}")
    bare = _QUALIFIER.sub("", name)
    if bare and bare != name:
        forms.append(bare)
    return forms


@cache
def _table() -> dict[str, str]:
    """Every accepted spelling (folded) → alpha-2. Built once; values are looked up per distinct cell value."""
    table: dict[str, str] = {}
    for c in pycountry.countries:
        for name in [c.alpha_2, c.alpha_3, *country_names.english_names(c)]:
            table[fold(name)] = c.alpha_2
            if ", " in name:  # "Korea, Republic of" → "Republic of Korea"
                head, tail = name.split(", ", 1)
                table[fold(f"{tail} {head}")] = c.alpha_2
    # The forms added since never displace a code or an English name of another country.
    for c in pycountry.countries:
        for name in country_names.english_names(c):
            table.setdefault(fold(_QUALIFIER.sub("", name)), c.alpha_2)  # "Sint Maarten (Dutch part)"
    for name, alpha2 in country_names.own_language_names():
        for form in _names(name):
            table.setdefault(fold(form), alpha2)
    table.update(_EXTRA)
    return table


@cache
def _places() -> dict[str, str]:
    """The places the contract names as hosts (folded name or ISO 3166-2 code) → the alpha-2 that holds them."""
    return {fold(name): alpha2 for name, alpha2 in country_names.place_names()}


def to_alpha2(text: str) -> str | None:
    return _table().get(fold(text))


@cache
def _suggestion_choices() -> tuple[list[str], list[str]]:
    """The names a suggestion is taken from (codes left out: a typo is not a code), and their alpha-2."""
    pairs = [(name, code) for name, code in _table().items() if len(name) >= SUGGEST_MIN_LENGTH]
    return [n for n, _ in pairs], [c for _, c in pairs]


def suggest(text: str) -> str | None:
    """``Germany (DE)`` when one country is clearly the closest to a value that is no country, else None."""
    folded = fold(text)
    if len(folded) < SUGGEST_MIN_LENGTH:
        return None
    names, codes = _suggestion_choices()
    best: dict[str, float] = {}
    for _, score, index in process.extract(folded, names, scorer=fuzz.ratio, limit=40,
                                           score_cutoff=SUGGEST_MIN_SCORE - SUGGEST_MIN_MARGIN):
        best[codes[index]] = max(best.get(codes[index], 0.0), score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < SUGGEST_MIN_SCORE:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < SUGGEST_MIN_MARGIN:
        return None
    return f"{name_of(ranked[0][0])} ({ranked[0][0]})"


def suggest_many(text: str) -> str | None:
    """The suggestion for the first part of a ``;``-separated list that is no country."""
    parts = (p.strip() for p in text.split(";"))
    wrong = next((p for p in parts if p and to_alpha2(p) is None), None)
    return suggest(wrong) if wrong else None


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
    # A named part of a country (Alderney, Azores …) is a territory of the agreement of the place that holds it.
    part_of = _places().get(folded)
    alpha2 = part_of or to_alpha2(text)
    if alpha2 is None:
        return None
    if alpha2 in agreements.US_TERRITORIES:
        return Host(alpha2, None, "not-abroad")
    owner = agreements.territory_owner().get(alpha2)
    if owner:
        return Host(alpha2, owner, "ok", territory=True)
    if alpha2 in agreements.all_agreements():
        return Host(alpha2, alpha2, "ok", territory=part_of is not None)
    return Host(alpha2, None, "no-agreement")


def load_tables() -> None:
    """Build the name tables now (pycountry loads its data and catalogs on first use: ~0.3 s)."""
    _table()
    _places()
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
