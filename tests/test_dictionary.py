"""The data dictionary, the error catalog and the help commands (docs/fields.md, docs/errors.md,
docs/commands.md#coc-help)."""

from __future__ import annotations

import re
import typing

import pytest
from typer.testing import CliRunner

from coc_intake import schemas
from coc_intake.catalog import CATALOG
from coc_intake.cli import app
from coc_intake.schemas.dictionary import Required

#: Every code on the product contract's list (docs/errors.md), by group, written out apart from the catalog.
SPEC_FILE_CODES = [
    "unreadable-file", "unsupported-format", "file-too-large", "empty-file", "no-header-row", "missing-column",
    "duplicate-column",
]
SPEC_HEADER_NOTICES = ["unknown-column", "assumed-column", "outdated-template"]
SPEC_ROW_CODES = [
    "missing-value", "invalid-ssn", "invalid-ein", "invalid-date", "invalid-country", "invalid-email",
    "invalid-value", "invalid-name", "invalid-zip", "no-agreement", "not-abroad", "end-before-start",
    "start-before-hire", "implausible-birth-date", "before-agreement-in-force", "missing-3121l-agreement",
    "3121l-after-start", "not-us-covered", "not-covered-by-agreement", "health-insurance-required",
    "duplicate-row", "duplicate-request", "not-authorized-for-employer",
]
SPEC_REFERRALS = ["exceeds-detachment-limit", "italy-election-required", "self-employed-review",
                  "concurrent-assignments", "extension-request"]
SPEC_WARNINGS = [
    "retroactive-request", "far-future-start", "ssn-zeros-restored", "ein-zeros-restored", "zip-zeros-restored",
    "already-requested",
]
SPEC_CODES = SPEC_FILE_CODES + SPEC_HEADER_NOTICES + SPEC_ROW_CODES + SPEC_REFERRALS + SPEC_WARNINGS

KNOWN_REQUIRED = set(typing.get_args(Required))

#: The product contract's list of fields (docs/fields.md), in order, written out apart from the dictionary.
SPEC_KEYS = [
    "employer_ein", "employer_name", "employer_street", "employer_city", "employer_state", "employer_zip",
    "worker_type", "last_name", "first_name", "middle_initial", "ssn", "date_of_birth", "place_of_birth",
    "citizenship", "residence_country", "hire_date", "host_country", "assignment_start", "assignment_end",
    "foreign_employer_name", "worksite_city", "worksite_address", "worksite_region", "employed_by",
    "section_3121l_date", "health_insurance", "business_nature", "contact_email", "request_type",
]

runner = CliRunner()


# --- the dictionary ------------------------------------------------------------------------------------------


def test_dictionary_has_the_spec_fields_in_template_order() -> None:
    assert list(schemas.fields()) == SPEC_KEYS


def test_required_values_are_all_known() -> None:
    assert {"yes", "employees", "self-employed", "foreign-affiliate", "agreement", "no"} == KNOWN_REQUIRED


@pytest.mark.parametrize("key", SPEC_KEYS)
def test_every_field_has_label_help_and_known_required(key: str) -> None:
    f = schemas.fields()[key]
    assert f.label.strip()
    assert f.help.strip()
    assert f.required in KNOWN_REQUIRED
    assert f.required_text.strip()


def test_always_required_fields_match_spec() -> None:
    assert set(schemas.always_required()) == {
        "last_name", "first_name", "ssn", "date_of_birth", "place_of_birth", "citizenship", "residence_country",
        "host_country", "assignment_start", "assignment_end", "worksite_city",
    }


def test_no_header_token_maps_to_two_fields() -> None:
    owner: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for f in schemas.fields().values():
        for name in f.names():
            token = schemas.header_token(name)
            assert token, f"{f.key}: header name {name!r} has an empty token"
            if token in owner and owner[token] != f.key:
                clashes.append((token, owner[token], f.key))
            owner.setdefault(token, f.key)
    assert clashes == []


def test_messages_column_token_is_not_a_field_name() -> None:
    tokens = {schemas.header_token(n) for f in schemas.fields().values() for n in f.names()}
    assert "messages" not in tokens


@pytest.mark.parametrize("key", SPEC_KEYS)
def test_find_returns_field_by_key_label_and_aliases(key: str) -> None:
    f = schemas.fields()[key]
    for name in f.names():
        found = schemas.find(name)
        assert found is not None and found.key == key, name
        found = schemas.find(name.upper().replace(" ", "_"))
        assert found is not None and found.key == key, name


def test_template_edition_is_2026_2() -> None:
    assert schemas.edition() == "2026.2"


# --- the catalog ---------------------------------------------------------------------------------------------


def test_every_catalog_code_has_a_nonempty_message_template() -> None:
    empty = [code for code, c in CATALOG.items() if not c.template.strip()]
    assert empty == []


@pytest.mark.parametrize("code", SPEC_CODES)
def test_every_spec_code_is_in_the_catalog_with_a_message(code: str) -> None:
    assert code in CATALOG, f"{code} lacks a catalog entry (and so a message)"
    assert CATALOG[code].template.strip()
    assert CATALOG[code].code == code


@pytest.mark.parametrize("code", SPEC_FILE_CODES + SPEC_ROW_CODES)
def test_spec_error_codes_have_error_severity(code: str) -> None:
    assert CATALOG[code].severity == "error"


def test_header_notices_have_spec_severities() -> None:
    assert CATALOG["unknown-column"].severity == "warning"
    assert CATALOG["assumed-column"].severity == "info"
    assert CATALOG["outdated-template"].severity == "warning"


@pytest.mark.parametrize("code", SPEC_REFERRALS + SPEC_WARNINGS)
def test_referrals_and_warnings_do_not_reject(code: str) -> None:
    assert CATALOG[code].severity != "error"


def test_referral_codes_are_exactly_the_spec_referrals() -> None:
    referrals = {c for c, v in CATALOG.items() if v.referral}
    assert referrals == set(SPEC_REFERRALS)


def test_catalog_has_no_code_outside_the_spec() -> None:
    assert set(CATALOG) - set(SPEC_CODES) == set()


# --- coc help / coc agreements -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ssn", "Social Security number", "SSN", "social-security NUMBER"])
def test_coc_help_prints_the_ssn_field_help(name: str) -> None:
    result = runner.invoke(app, ["help", name])
    assert result.exit_code == 0, result.output
    f = schemas.fields()["ssn"]
    text = " ".join(result.stdout.split())
    assert f.label in text
    assert "Required: yes" in text
    assert " ".join(f.help.split()) in text


def test_coc_help_without_field_lists_every_field() -> None:
    result = runner.invoke(app, ["help"])
    assert result.exit_code == 0, result.output
    for key in SPEC_KEYS:
        assert key in result.stdout


def test_coc_help_unknown_field_exits_2_listing_the_fields() -> None:
    result = runner.invoke(app, ["help", "nosuchfield"])
    assert result.exit_code == 2
    text = result.stderr + result.stdout
    assert "nosuchfield" in text
    assert "not a field" in text
    for key in SPEC_KEYS:
        assert key in text


def test_coc_agreements_lists_31_rows_including_italy() -> None:
    result = runner.invoke(app, ["agreements"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    codes = [m.group(1) for line in lines if (m := re.match(r"^\W*([A-Z]{2}(?:-QC)?)\s*│", line))]
    assert len(codes) == 31, result.stdout
    assert len(set(codes)) == 31
    italy = next(line for line in lines if re.match(r"^\W*IT\s*│", line))
    assert "Italy" in italy
    assert "1978-11-01" in italy
    assert "none" in italy
