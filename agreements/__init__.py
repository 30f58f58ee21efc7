"""The U.S. totalization agreements in force, as data.

One TOML file per agreement (and one for the Quebec understanding) sits beside this module; this module only
loads them. Facts and sources: ``agreements-research.md``; every file names its POMS sections.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

SelfEmployment = Literal["residence", "place-of-work", "nationality", "not-covered"]
"""How an agreement places a self-employed person (docs/errors.md, self-employment rules):

- ``residence``: covered by the country of residence; a U.S. resident stays U.S.-covered with no time limit.
- ``place-of-work``: covered where the work is done, unless the business is moved there temporarily (at most
  ``self_employed_max_months``: 60, or 24 for France).
- ``nationality``: Italy's rule, the same as for employees.
- ``not-covered``: the agreement does not cover the self-employed (Australia).
"""

#: ``coc agreements``: each rule in a few words.
SELF_EMPLOYMENT_TEXT: dict[str, str] = {
    "residence": "residence (U.S. resident: covered, no limit; host resident: not U.S.-covered; elsewhere: review)",
    "place-of-work": "place of work, temporary business transfer of at most {months} months "
                     "(host resident: review)",
    "nationality": "nationality, as for employees",
    "not-covered": "not covered by the agreement",
}

#: U.S. soil for the agreements: a worksite or residence here is not abroad.
US_TERRITORIES: frozenset[str] = frozenset({"US", "PR", "VI", "GU", "AS", "MP", "UM"})


@dataclass(frozen=True)
class Agreement:
    code: str
    """``GB``, ``DE`` … or ``CA-QC`` for the Quebec understanding."""
    country: str
    name: str
    in_force_since: dt.date
    max_months: int | None
    self_employment: SelfEmployment
    self_employed_max_months: int | None = None
    """The transfer limit of a place-of-work rule; None under a residence rule (no limit applies)."""
    self_employment_sources: tuple[str, ...] = ()
    """Where the self-employment rule is stated: its POMS section (an SSA pamphlet where POMS has none)."""
    region: str | None = None
    requires: tuple[str, ...] = ()
    health_insurance_must_be: str | None = None
    territories: tuple[str, ...] = ()
    excluded_territories: tuple[str, ...] = ()
    worksite_regions: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())
    notes: str = ""

    @property
    def self_employment_text(self) -> str:
        """The self-employment rule in a few words, with its source."""
        text = SELF_EMPLOYMENT_TEXT[self.self_employment].format(months=self.self_employed_max_months)
        return f"{text}; {', '.join(self.self_employment_sources)}" if self.self_employment_sources else text


def _load(raw: dict[str, object]) -> Agreement:
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    data.setdefault("max_months", None)
    return Agreement(**data)  # type: ignore[arg-type]


@cache
def all_agreements() -> dict[str, Agreement]:
    """Every agreement keyed by its code, in the order of the codes."""
    found = []
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".toml"):
            found.append(_load(tomllib.loads(entry.read_text(encoding="utf-8"))))
    return {a.code: a for a in sorted(found, key=lambda a: a.code)}


@cache
def territory_owner() -> dict[str, str]:
    """Territory ISO code → the agreement code that covers it (IM, JE, GG → GB)."""
    return {t: a.code for a in all_agreements().values() for t in a.territories}


@cache
def excluded_territories() -> frozenset[str]:
    """Territories that an agreement country's agreement explicitly leaves out (GL, FO)."""
    return frozenset(t for a in all_agreements().values() for t in a.excluded_territories)
