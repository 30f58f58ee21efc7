"""The error catalog (SPEC §4): every code, its severity, its kind and its message template.

Codes are stable and part of the contract; messages say how to fix the problem. Templates are filled with
``label`` (the field's label), ``column`` (its letter), ``value`` (as read, masked for SSNs) and the extra
parameters a rule passes (``limit``, ``since`` …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
Kind = Literal["file", "header", "cell", "referral", "notice"]


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    kind: Kind
    template: str


_CODES = [
    # File and header errors: the whole file is rejected.
    Code("unreadable-file", "error", "file",
         "The file could not be read ({reason}). Save it again from Excel as an .xlsx workbook (without a password) "
         "or as a .csv file, and resubmit it."),
    Code("unsupported-format", "error", "file",
         "{reason}. Save the workbook as an Excel Workbook (.xlsx, no macros) or as CSV (UTF-8), and resubmit it."),
    Code("file-too-large", "error", "file",
         "The file is over the intake's limit: {reason}. Split it into smaller workbooks and submit each."),
    Code("empty-file", "error", "file",
         "The file has no assignment rows{reason}. Fill in one row per assignment under the header row and resubmit."),
    Code("no-header-row", "error", "file",
         "No header row was found in the first 20 rows of any sheet. Put the column labels of the template "
         "(for example 'Last name', 'Social Security number', 'Host country') in one row above the data; "
         "`coc template` writes a blank workbook."),
    Code("missing-column", "error", "header",
         "The required column '{label}' is missing. Add a column headed '{label}' and fill it in for every row."),
    Code("duplicate-column", "error", "header",
         "Columns {columns} are all read as '{label}'. Keep one of them and rename or delete the others."),
    # Header notices: the file is still processed.
    Code("unknown-column", "warning", "notice",
         "Column {column} ('{value}') is not a field of the template and was ignored. Rename it to a template "
         "label if it holds one of the fields (`coc help` lists them), or delete it."),
    Code("assumed-column", "info", "notice",
         "Column {column} ('{value}') was taken to be '{label}'. If that is wrong, rename the column."),
    Code("outdated-template", "warning", "notice",
         "The workbook is template edition {value}; the current edition is {edition}. It was read anyway; use "
         "`coc template` for the current edition next time."),
    # Cell and row errors: the row is rejected.
    Code("missing-value", "error", "cell", "{label} is required{when}. Fill in column {column}."),
    Code("invalid-ssn", "error", "cell",
         "{label} '{value}' is not a valid SSN. Enter the worker's nine-digit number as NNN-NN-NNNN; numbers "
         "starting with 9, 000 or 666, with group 00 or serial 0000 are never issued."),
    Code("invalid-ein", "error", "cell",
         "{label} '{value}' is not a valid EIN. Enter the nine-digit number as NN-NNNNNNN, as on the employer's "
         "IRS notice; its first two digits must be a prefix the IRS issues."),
    Code("invalid-date", "error", "cell",
         "{label} '{value}' is not a date. Use a date cell, or type YYYY-MM-DD, MM/DD/YYYY or DD-Mon-YYYY."),
    Code("invalid-country", "error", "cell",
         "{label} '{value}' is not a country. Use an ISO code (DE, DEU) or the English name (Germany); separate "
         "several citizenships with ';'."),
    Code("invalid-email", "error", "cell",
         "{label} '{value}' is not an e-mail address ({reason}). Correct it, or leave the cell blank for no "
         "confirmation."),
    Code("invalid-value", "error", "cell", "{label} '{value}' is not one of the allowed values: {allowed}."),
    Code("invalid-name", "error", "cell",
         "{label} '{value}' is not a valid name. Use letters, spaces, hyphens, apostrophes and periods "
         "({limit})."),
    Code("invalid-zip", "error", "cell", "{label} '{value}' is not a ZIP code. Use NNNNN or NNNNN-NNNN."),
    Code("no-agreement", "error", "cell",
         "The United States has no Social Security agreement in force with {value}, so no Certificate of "
         "Coverage can be issued. `coc agreements` lists the agreement countries."),
    Code("not-abroad", "error", "cell",
         "{value} is part of the United States for the agreements: work there is not abroad and needs no "
         "certificate. Correct the host country."),
    Code("end-before-start", "error", "cell",
         "{label} {value} is before the assignment start date. Correct either date."),
    Code("start-before-hire", "error", "cell",
         "The assignment starts before the date of hire {value}. The worker must be employed before being sent "
         "abroad: correct the date of hire or the start date."),
    Code("implausible-birth-date", "error", "cell",
         "{label} {value} gives an age of {age} on the start date; workers must be 14 to 100 years old and born "
         "before today. Check the date (MM/DD/YYYY is read month first)."),
    Code("before-agreement-in-force", "error", "cell",
         "The assignment starts on {value}, before the agreement with {country} came into force on {since}. "
         "No certificate can cover that period: correct the start date."),
    Code("missing-3121l-agreement", "error", "cell",
         "The worker is employed by a foreign affiliate, so the date of the employer's Section 3121(l) agreement "
         "(IRS Form 2032) is required in column {column}. Without one the work is not U.S.-covered."),
    Code("3121l-after-start", "error", "cell",
         "The Section 3121(l) agreement date {value} is after the assignment start. The agreement must be in "
         "effect when the assignment starts: correct the date or the start date."),
    Code("not-us-covered", "error", "cell", "{reason}"),
    Code("not-covered-by-agreement", "error", "cell",
         "The agreement with {country} does not cover {who}, so no certificate can be issued."),
    Code("health-insurance-required", "error", "cell",
         "Workers sent to France (and their family) must have health insurance abroad. Arrange it and enter Y."),
    Code("duplicate-row", "error", "cell",
         "This row repeats row {other} (same SSN ***-**-{last4}, host country and an overlapping period). Delete "
         "one of the rows, or correct the dates."),
    Code("duplicate-request", "error", "cell",
         "A request for this worker, host country and start date was already made ({request_id}, batch "
         "{batch_id}). Do not resubmit it."),
    # Referral reasons: the row is valid and goes to a specialist.
    Code("exceeds-detachment-limit", "warning", "referral",
         "The assignment lasts longer than the agreement's limit of {limit} months (counted from {clock}); a "
         "specialist will review the request for an extension or special exception."),
    Code("italy-election-required", "warning", "referral",
         "The worker is an Italian citizen: under the agreement with Italy they must elect the country of "
         "coverage. A specialist will contact the employer."),
    Code("self-employed-review", "warning", "referral",
         "The self-employment rule of the agreement with {country} needs a specialist's review."),
    # Warnings and notices: the row is still accepted.
    Code("retroactive-request", "warning", "cell",
         "The assignment started on {value}, before {as_of}: a retroactive request. Refunds of contributions "
         "already paid abroad are subject to time limits."),
    Code("far-future-start", "warning", "cell",
         "The assignment starts on {value}, more than 12 months after {as_of}. Check the date."),
    Code("ssn-zeros-restored", "warning", "cell",
         "{label} '{value}' had lost its leading zeros in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep them."),
    Code("ein-zeros-restored", "warning", "cell",
         "{label} '{value}' had lost its leading zero in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep it."),
    Code("zip-zeros-restored", "warning", "cell",
         "{label} '{value}' had lost its leading zeros in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep them."),
]

#: What each code means in a few words, for reports that count problems rather than show one.
TITLES: dict[str, str] = {
    "unreadable-file": "file could not be read (damaged, encrypted or crafted)",
    "unsupported-format": "not an .xlsx or .csv file (macros, .xls, .xlsb …)",
    "file-too-large": "file over the intake's size limits",
    "empty-file": "no assignment rows",
    "no-header-row": "no recognizable header row",
    "missing-column": "a required column is missing",
    "duplicate-column": "two columns for the same field",
    "unknown-column": "a column that is not a template field",
    "assumed-column": "a misspelt header was matched",
    "outdated-template": "an older edition of the template",
    "missing-value": "a required value is blank",
    "invalid-ssn": "SSN not valid",
    "invalid-ein": "EIN not valid",
    "invalid-date": "not a date in an accepted form",
    "invalid-country": "not a country",
    "invalid-email": "not an e-mail address",
    "invalid-value": "not one of the allowed values",
    "invalid-name": "not a valid name",
    "invalid-zip": "ZIP code not valid",
    "no-agreement": "host country has no agreement in force",
    "not-abroad": "host is the United States or a U.S. territory",
    "end-before-start": "assignment ends before it starts",
    "start-before-hire": "assignment starts before the date of hire",
    "implausible-birth-date": "worker younger than 14 or older than 100",
    "before-agreement-in-force": "assignment starts before the agreement came into force",
    "missing-3121l-agreement": "foreign affiliate without a Section 3121(l) agreement date",
    "3121l-after-start": "Section 3121(l) agreement dated after the start",
    "not-us-covered": "worker not covered by U.S. Social Security",
    "not-covered-by-agreement": "the agreement does not cover this worker",
    "health-insurance-required": "France without health insurance",
    "duplicate-row": "the same assignment twice in the file",
    "duplicate-request": "already requested in an earlier file",
    "exceeds-detachment-limit": "longer than the agreement's limit",
    "italy-election-required": "Italian citizen must elect coverage",
    "self-employed-review": "self-employment rule needs a specialist",
    "retroactive-request": "assignment already started",
    "far-future-start": "assignment starts more than 12 months ahead",
    "ssn-zeros-restored": "SSN had lost leading zeros",
    "ein-zeros-restored": "EIN had lost its leading zero",
    "zip-zeros-restored": "ZIP code had lost leading zeros",
}

CATALOG: dict[str, Code] = {c.code: c for c in _CODES}
REFERRAL_CODES: frozenset[str] = frozenset(c.code for c in _CODES if c.kind == "referral")
FILE_CODES: frozenset[str] = frozenset(c.code for c in _CODES if c.kind in ("file", "header"))


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def message(code: str, **params: object) -> str:
    """The plain-English message of a code, filled with what is known; unknown parameters stay blank."""
    return CATALOG[code].template.format_map(_Blank(params))


def severity(code: str) -> Severity:
    return CATALOG[code].severity
