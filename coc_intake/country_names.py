"""Names of a country besides its ISO codes and English names (docs/fields.md#host_country).

- Its names in its own official language(s): the translations of ISO 3166-1 that pycountry ships (Debian's
  iso-codes, one gettext catalog per language), for the agreement countries and the territories the contract names.
- The places the contract names that are a part of a country (Alderney, Azores, Canary Islands …).

Only data and the reading of pycountry's catalogs are here; ``countries`` builds the lookup table from them.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator

import pycountry

#: The official languages (ISO 639-1) of each agreement country and of each territory that the contract names, as
#: CLDR's territory data gives them (status "official", national level: Spain's regional languages are left out).
#: English needs no catalog: pycountry's own names are English.
OFFICIAL_LANGUAGES: dict[str, tuple[str, ...]] = {
    "AT": ("de",), "AU": ("en",), "BE": ("nl", "fr", "de"), "BR": ("pt",), "CA": ("en", "fr"),
    "CH": ("de", "fr", "it", "rm"), "CL": ("es",), "CZ": ("cs",), "DE": ("de",), "DK": ("da",), "ES": ("es",),
    "FI": ("fi", "sv"), "FR": ("fr",), "GB": ("en",), "GR": ("el",), "HU": ("hu",), "IE": ("ga", "en"),
    "IS": ("is",), "IT": ("it",), "JP": ("ja",), "KR": ("ko",), "LU": ("lb", "fr", "de"), "NL": ("nl",),
    "NO": ("nb", "nn"), "PL": ("pl",), "PT": ("pt",), "SE": ("sv",), "SI": ("sl",), "SK": ("sk",), "UY": ("es",),
    # Territories: covered by an agreement (docs/fields.md#host_country) …
    "GP": ("fr",), "MQ": ("fr",), "GF": ("fr",), "RE": ("fr",), "AX": ("sv",), "IM": ("en", "gv"),
    "JE": ("en", "fr"), "GG": ("en", "fr"),
    # … or expressly not (no-agreement): Greenland and the Faroe Islands, the Dutch Caribbean, Gibraltar.
    "GL": ("kl", "da"), "FO": ("fo", "da"), "AW": ("nl", "pap"), "CW": ("nl", "pap"), "SX": ("nl", "en"),
    "BQ": ("nl",), "GI": ("en",),
}

#: Own-language names pycountry has no catalog for (iso-codes has no Luxembourgish or Romansh translation): the
#: country's name in that language as its own law writes it (Luxembourg's language law of 24 February 1984; the
#: Romansh text of the Swiss federal constitution). Keyed by language, so a test can tell when a catalog appears.
CATALOG_GAPS: dict[str, dict[str, str]] = {"lb": {"LU": "Lëtzebuerg"}, "rm": {"CH": "Svizra"}}

#: Places the contract names (docs/fields.md#host_country) that have no ISO 3166-1 code of their own, under the code
#: of the place that holds them: Alderney, Herm and Jethou are in the Bailiwick of Guernsey (GG), the Azores and
#: Madeira in Portugal, the Canary Islands, Ceuta and Melilla in Spain; the Caribbean Netherlands are BQ.
PLACE_NAMES: dict[str, str] = {
    "Alderney": "GG", "Herm": "GG", "Jethou": "GG", "Azores": "PT", "Madeira": "PT", "Canary Islands": "ES",
    "Ceuta": "ES", "Melilla": "ES", "Caribbean Netherlands": "BQ",
}
#: The same places' ISO 3166-2 subdivisions: their codes and their names in the country's language (pycountry's:
#: Canarias, Região Autónoma dos Açores …) are accepted too.
PLACE_SUBDIVISIONS: tuple[str, ...] = ("ES-CN", "ES-CE", "ES-ML", "PT-20", "PT-30")


def english_names(country: object) -> list[str]:
    """The ISO 3166-1 names pycountry gives a country (name, official name, common name)."""
    names = (getattr(country, a, None) for a in ("name", "official_name", "common_name"))
    return [n for n in names if n]


def has_catalog(language: str) -> bool:
    return gettext.find("iso3166-1", pycountry.LOCALES_DIR, languages=[language]) is not None


def own_language_names() -> Iterator[tuple[str, str]]:
    """(name, alpha-2) for every official language of every country of ``OFFICIAL_LANGUAGES``.

    A catalog translates each English name of the country; a name it leaves untranslated is the English one, which
    the table has anyway.
    """
    for language in sorted({lang for langs in OFFICIAL_LANGUAGES.values() for lang in langs} - {"en"}):
        wanted = [code for code, langs in OFFICIAL_LANGUAGES.items() if language in langs]
        if not has_catalog(language):
            yield from ((name, code) for code, name in CATALOG_GAPS.get(language, {}).items() if code in wanted)
            continue
        catalog = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        for code in wanted:
            for name in english_names(pycountry.countries.get(alpha_2=code)):
                yield catalog.gettext(name), code


def place_names() -> Iterator[tuple[str, str]]:
    """(name or code, the alpha-2 that holds the place) for the places the contract names."""
    yield from PLACE_NAMES.items()
    for code in PLACE_SUBDIVISIONS:
        subdivision = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
        holder = code.split("-")[0]
        yield code, holder
        if subdivision is not None:
            yield subdivision.name, holder
