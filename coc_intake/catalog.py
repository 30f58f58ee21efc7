"""The error catalog, rendered as docs/errors.md: every code with its severity, scope, title and message template.

Codes are stable and part of the contract; messages say how to fix the problem. Templates are filled with
``label`` (the field's label), ``column`` (its letter), ``value`` (as read, masked for SSNs) and the extra
parameters a rule passes (``limit``, ``since`` …). ``fill_in`` is made from the others: "Fill in column C", or, when
the file has no column for the field, "Add a column headed '<label>' and fill it in" (never "column None").

Every message says what was read, what is accepted and how to fix the cell (tests/test_messages.py shows each one
for a realistic value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
Scope = Literal["file", "header", "cell"]


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    scope: Scope
    """The scope of its findings: a file finding has no row, a header finding the header's."""
    title: str
    """What the code means in a few words, for reports that count problems rather than show one."""
    template: str
    referral: bool = False
    """A reason to refer a valid row to a specialist rather than approve it."""

    def message(self, **params: object) -> str:
        """The plain-English message, filled with what is known; unknown (or None) parameters stay blank."""
        known = {k: v for k, v in params.items() if v is not None}
        known.setdefault("fill_in", fill_in(known.get("column"), known.get("label")))
        return self.template.format_map(_Blank(known))


def fill_in(column: object, label: object) -> str:
    """What to do about a blank cell: fill in its column, or add the column when the file has none."""
    if column:
        return f"Fill in column {column}"
    if label:
        return f"Add a column headed '{label}' and fill it in"
    return "Fill it in"


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


_CODES = [
    # File and header errors: the whole file is rejected.
    Code("unreadable-file", "error", "file", "file could not be read (damaged, encrypted or crafted)",
         "The file could not be read ({reason}). Save it again from Excel as an .xlsx workbook (without a password) "
         "or as a .csv file, and resubmit it."),
    Code("unsupported-format", "error", "file", "not an .xlsx or .csv file (macros, .xls, .xlsb …)",
         "{reason}. Save the workbook as an Excel Workbook (.xlsx, no macros) or as CSV (UTF-8), and resubmit it."),
    Code("file-too-large", "error", "file", "file over the intake's size limits",
         "The file is over the intake's limit: {reason}. Split it into smaller workbooks and submit each."),
    Code("empty-file", "error", "file", "no assignment rows",
         "The file has no assignment rows{reason}. Fill in one row per assignment under the header row and resubmit."),
    Code("no-header-row", "error", "file", "no recognizable header row",
         "No header row was found in the first 20 rows of any sheet. Put the column labels of the template "
         "(for example 'Last name', 'Social Security number', 'Host country') in one row above the data; "
         "`coc template` writes a blank workbook."),
    Code("missing-column", "error", "header", "a required column is missing",
         "The required column '{label}' is missing. Add a column headed '{label}' and fill it in for every row."),
    Code("duplicate-column", "error", "header", "two columns for the same field",
         "Columns {columns} are all read as '{label}'. Keep one of them and rename or delete the others."),
    # Header notices: the file is still processed.
    Code("unknown-column", "warning", "header", "a column that is not a template field",
         "Column {column} ('{value}') is not a field of the template and was ignored. Rename it to a template "
         "label if it holds one of the fields (`coc help` lists them), or delete it."),
    Code("assumed-column", "info", "header", "a misspelt header was matched",
         "Column {column} ('{value}') was taken to be '{label}'. If that is wrong, rename the column."),
    Code("outdated-template", "warning", "file", "an older edition of the template",
         "The workbook is template edition {value}; the current edition is {edition}. It was read anyway; use "
         "`coc template` for the current edition next time."),
    # Cell and row errors: the row is rejected.
    Code("missing-value", "error", "cell", "a required value is blank",
         "{label} is required{when} and the cell is blank. {fill_in}."),
    Code("invalid-ssn", "error", "cell", "SSN not valid",
         "{label} '{value}' is not a valid SSN. Enter the worker's nine-digit number as NNN-NN-NNNN; numbers "
         "starting with 9, 000 or 666, with group 00 or serial 0000 are never issued."),
    Code("invalid-ein", "error", "cell", "EIN not valid",
         "{label} '{value}' is not a valid EIN. Enter the nine-digit number as NN-NNNNNNN, as on the employer's "
         "IRS notice; its first two digits must be a prefix the IRS issues."),
    Code("invalid-date", "error", "cell", "not a date in an accepted form",
         "{label} '{value}' is not a date in an accepted form{why}. Use a date cell, or type YYYY-MM-DD, MM/DD/YYYY "
         "(month first) or DD-Mon-YYYY, always with a four-digit year{fix}."),
    Code("invalid-country", "error", "cell", "not a country",
         "{label} '{value}' is not a country{suggestion}. Use an ISO code (DE, DEU) or the English name "
         "(Germany){also}."),
    Code("invalid-email", "error", "cell", "not an e-mail address",
         "{label} '{value}' is not an e-mail address ({reason}). Correct it, or leave the cell blank for no "
         "confirmation."),
    Code("invalid-value", "error", "cell", "not one of the allowed values",
         "{label} '{value}' is not accepted: {allowed}."),
    Code("invalid-name", "error", "cell", "not a valid name",
         "{label} '{value}' is not {kind}. {accepted}."),
    Code("invalid-zip", "error", "cell", "ZIP code not valid",
         "{label} '{value}' is not a ZIP code. Use the five digits, NNNNN, or ZIP+4, NNNNN-NNNN (02110 or "
         "02110-1234)."),
    Code("no-agreement", "error", "cell", "host country has no agreement in force",
         "The United States has no Social Security agreement in force with {value}, so no Certificate of "
         "Coverage can be issued. Correct the host country if it is wrong; otherwise leave the row out. "
         "`coc agreements` lists the agreement countries."),
    Code("not-abroad", "error", "cell", "host is the United States or a U.S. territory",
         "{value} is part of the United States for the agreements: work there is not abroad and needs no "
         "certificate. Correct the host country."),
    Code("end-before-start", "error", "cell", "assignment ends before it starts",
         "{label} {value} is before the assignment start date. Correct either date."),
    Code("start-before-hire", "error", "cell", "assignment starts before the date of hire",
         "The assignment starts before the date of hire {value}. The worker must be employed before being sent "
         "abroad: correct the date of hire or the start date."),
    Code("implausible-birth-date", "error", "cell", "worker younger than 14 or older than 100",
         "{label} {value} gives an age of {age} on the start date; workers must be 14 to 100 years old and born "
         "before today. Check the date (MM/DD/YYYY is read month first)."),
    Code("before-agreement-in-force", "error", "cell", "assignment starts before the agreement came into force",
         "The assignment starts on {value}, before the agreement with {country} came into force on {since}. "
         "No certificate can cover that period: correct the start date."),
    Code("missing-3121l-agreement", "error", "cell", "foreign affiliate without a Section 3121(l) agreement date",
         "The worker is employed by a foreign affiliate, so the date of the employer's Section 3121(l) agreement "
         "(IRS Form 2032) is required, and the cell is blank: without one the work is not U.S.-covered. {fill_in} "
         "with the agreement's date (YYYY-MM-DD or MM/DD/YYYY)."),
    Code("3121l-after-start", "error", "cell", "Section 3121(l) agreement dated after the start",
         "The Section 3121(l) agreement date {value} is after the assignment start. The agreement must be in "
         "effect when the assignment starts: correct the date or the start date."),
    Code("not-us-covered", "error", "cell", "worker not covered by U.S. Social Security", "{reason}"),
    Code("not-covered-by-agreement", "error", "cell", "the agreement does not cover this worker",
         "The agreement with {country} does not cover {who}, so no certificate can be issued. If {label} "
         "'{value}' is wrong, correct it; otherwise leave the row out."),
    Code("health-insurance-required", "error", "cell", "France without health insurance",
         "{label} is '{value}', but workers sent to France (and their family) must have health insurance abroad. "
         "Arrange it and enter Y."),
    Code("duplicate-row", "error", "cell", "the same assignment twice in the file",
         "This row repeats row {other} (same SSN ***-**-{last4}, host country and an overlapping period). Delete "
         "one of the rows, or correct the dates."),
    Code("duplicate-request", "error", "cell", "already requested with another end date",
         "A request for this worker, host country and start date was already made ({request_id}, batch "
         "{batch_id}) with the end date {earlier_end}. To ask for more time, send the row again with Request type "
         "'extension'; otherwise correct the end date to {earlier_end}."),
    Code("not-authorized-for-employer", "error", "cell", "the submitting account may not submit for this employer",
         "This row is for {holder} {value} (column {column}), which is not one of the account's {holders}: the "
         "account that submitted the file may not make requests for it. Submit the row from the account that holds "
         "{holder} {value}, or ask the administrator to add {holder} {value} to your account, then resubmit."),
    # Referral reasons: the row is valid and goes to a specialist.
    Code("exceeds-detachment-limit", "warning", "cell", "longer than the agreement's limit",
         "The assignment lasts longer than the agreement's limit of {limit} months (counted from {clock}{chain}); a "
         "specialist will review the request for an extension or special exception.", referral=True),
    Code("italy-election-required", "warning", "cell", "Italian citizen must elect coverage",
         "The worker is an Italian citizen: under the agreement with Italy they must elect the country of "
         "coverage. A specialist will contact the employer.", referral=True),
    Code("self-employed-review", "warning", "cell", "self-employment rule needs a specialist",
         "{reason} A specialist will review the request; if the country of residence is wrong, correct it.",
         referral=True),
    Code("concurrent-assignments", "warning", "cell", "the worker has an overlapping request elsewhere",
         "The worker (SSN ***-**-{last4}) already has request {request_id} for {other_country} from {other_start} "
         "to {other_end}, which overlaps this assignment. A specialist will review both.", referral=True),
    Code("extension-request", "warning", "cell", "more time for an assignment",
         "The row asks for an extension (Request type 'extension'): a specialist decides on more time for an "
         "assignment that already has a certificate.", referral=True),
    # Warnings and notices: the row is still accepted.
    Code("already-requested", "info", "cell", "already requested in an earlier file",
         "This request was already made ({request_id}, batch {batch_id}) with the same dates: nothing new is "
         "requested and nothing needs to be done. Leave the row out of the next files."),
    Code("retroactive-request", "warning", "cell", "assignment already started",
         "The assignment started on {value}, before {as_of}: a retroactive request, still accepted. Check the start "
         "date; if it is right, claim soon any refund of contributions already paid abroad, which is subject to "
         "time limits."),
    Code("far-future-start", "warning", "cell", "assignment starts more than 12 months ahead",
         "The assignment starts on {value}, more than 12 months after {as_of}; the row is still accepted. Check the "
         "date (MM/DD/YYYY is read month first) and correct it if it is wrong."),
    Code("ssn-zeros-restored", "warning", "cell", "SSN had lost leading zeros",
         "{label} '{value}' had lost its leading zeros in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep them."),
    Code("ein-zeros-restored", "warning", "cell", "EIN had lost its leading zero",
         "{label} '{value}' had lost its leading zero in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep it."),
    Code("zip-zeros-restored", "warning", "cell", "ZIP code had lost leading zeros",
         "{label} '{value}' had lost its leading zeros in the spreadsheet and was read as {fixed}. Format the "
         "column as text to keep them."),
]

CATALOG: dict[str, Code] = {c.code: c for c in _CODES}
REFERRAL_CODES: frozenset[str] = frozenset(c.code for c in _CODES if c.referral)
#: The codes that reject the whole file.
FILE_CODES: frozenset[str] = frozenset(c.code for c in _CODES if c.scope != "cell" and c.severity == "error")


def message(code: str, **params: object) -> str:
    """The plain-English message of a code, filled with what is known; unknown parameters stay blank."""
    return CATALOG[code].message(**params)
