"""Writes the sample workbooks in this folder (run: .venv/bin/python examples/generate.py).

Realistic census exports of three fictional employers, each with a few rows that carry the mistakes employers
make most (lost zeros, a date in the wrong order, a country without an agreement, a missing §3121(l) date …).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
D = dt.date

ACME = dict(employer_ein="12-3456789", employer_name="Acme Industrial Corp", employer_street="100 Federal St",
            employer_city="Boston", employer_state="MA", employer_zip="02110")
LABELS = ["Employer EIN", "Employer name", "Employer street address", "Employer city", "Employer state",
          "Employer ZIP code", "Worker type", "Last name", "First name", "Middle initial", "Social Security number",
          "Date of birth", "Place of birth", "Citizenship", "Country of residence", "Date of hire", "Host country",
          "Assignment start date", "Assignment end date", "Host-country employer", "Worksite city",
          "Worksite address", "Worksite region", "Employed by", "Section 3121(l) agreement date",
          "Health insurance abroad", "Nature of business", "Confirmation e-mail"]


def acme() -> None:
    rows = [
        ["employee", "Nguyen", "Linh", "T", "212-48-1937", D(1986, 3, 14), "San Jose, United States", "US", "US",
         D(2014, 6, 2), "Germany", D(2027, 2, 1), D(2029, 1, 31), "Acme Industrie GmbH", "Stuttgart",
         "Heilbronner Str. 86", None, "US employer", None, None, None, "mobility@acme.example"],
        ["employee", "O'Brien", "Patrick", None, "318-22-4410", D(1979, 11, 2), "Chicago, United States", "US", "US",
         D(2009, 9, 14), "UK", D(2027, 1, 4), D(2028, 12, 31), "Acme UK Ltd", "Manchester", "1 Spinningfields",
         "England", "US employer", None, None, None, "mobility@acme.example"],
        ["employee", "García-López", "María", "J", "401-55-2308", D(1990, 7, 21), "Madrid, Spain", "US;ES", "US",
         D(2018, 1, 8), "ES", D(2027, 3, 1), D(2033, 2, 28), "Acme Ibérica SL", "Madrid", "Calle de Serrano 41",
         None, "foreign affiliate", D(2012, 5, 1), None, None, "mobility@acme.example"],
        ["employee", "Tanaka", "Ken", None, "522-19-8876", D(1984, 2, 29), "Osaka, Japan", "US", "US",
         D(2016, 4, 1), "Japan", D(2027, 4, 1), D(2029, 3, 31), "Acme KK", "Tokyo", None, None, "US employer",
         None, "Y", None, "mobility@acme.example"],
        ["employee", "Dubois", "Claire", None, "233-71-0964", D(1988, 12, 5), "Lyon, France", "US", "US",
         D(2019, 2, 11), "France", D(2027, 5, 3), D(2029, 5, 2), "Acme France SAS", "Lyon", None, None,
         "US employer", None, "N", None, "mobility@acme.example"],
        ["employee", "Rossi", "Marco", None, "145-62-7730", D(1975, 6, 30), "Milan, Italy", "US;IT", "US",
         D(2004, 3, 1), "Italy", D(2027, 1, 11), D(2031, 1, 10), "Acme Italia Srl", "Milan", None, None,
         "US employer", None, None, None, "mobility@acme.example"],
        ["employee", "Kowalski", "Anna", None, "27193348", D(1992, 8, 17), "Krakow, Poland", "US", "US",
         D(2020, 10, 5), "Poland", D(2027, 6, 1), D(2028, 5, 31), "Acme Polska", "Warsaw", None, None,
         "US employer", None, None, None, None],
        ["employee", "Hernández", "Luis", None, "612-40-3391", D(1983, 1, 9), "Monterrey, Mexico", "US", "US",
         D(2011, 7, 18), "Mexico", D(2027, 2, 15), D(2028, 2, 14), "Acme de México", "Monterrey", None, None,
         "US employer", None, None, None, "mobility@acme.example"],
        ["employee", "Schmidt", "Jonas", None, "377-08-1245", "13/04/1987", "Hamburg, Germany", "US", "US",
         D(2021, 1, 4), "DE", D(2027, 1, 4), D(2028, 1, 3), "Acme Industrie GmbH", "Hamburg", None, None,
         "foreign affiliate", None, None, None, "mobility@acme.example"],
        ["employee", "Larsen", "Ingrid", None, "456-23-9981", D(1981, 4, 23), "Oslo, Norway", "NO", "NO",
         D(2017, 8, 21), "Norway", D(2027, 9, 1), D(2029, 8, 31), "Acme Norge AS", "Oslo", None, None,
         "US employer", None, None, None, None],
        ["employee", "Nguyen", "Linh", "T", "212-48-1937", D(1986, 3, 14), "San Jose, United States", "US", "US",
         D(2014, 6, 2), "DEU", D(2028, 6, 1), D(2029, 6, 30), "Acme Industrie GmbH", "Munich", None, None,
         "US employer", None, None, None, "mobility@acme.example"],
    ]
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Assignments"
    ws.append(["Acme Industrial Corp — international assignments starting 2027"])
    ws.append(["Prepared by Global Mobility, exported from the HR system"])
    ws.append(LABELS)
    for r in rows:
        ws.append([ACME[k] for k in ACME] + r)
    ws.append([])
    ws.append([ACME[k] for k in ACME] + ["employee", "Byrne", "Siobhan", None, "529-33-0187", D(1991, 10, 2),
              "Dublin, Ireland", "US;IE", "US", D(2022, 3, 7), "Ireland", D(2027, 2, 1), D(2029, 1, 31),
              "Acme Ireland DAC", "Cork", None, None, "US employer", None, None, None, "mobility@acme.example"])
    wb.save(HERE / "acme-2027-assignments.xlsx")


def globex() -> None:
    """A payroll export: semicolons, Windows-1252, its own header names, numbers that lost their zeros."""
    header = ["FEIN", "Company", "Street", "City", "State", "ZIP", "Surname", "Given name", "SSN", "DOB",
              "Birthplace", "Nationality", "Residence", "Hire date", "Destination", "Start date", "End date",
              "Host employer", "Work city", "Region", "Employed by", "Notes"]
    emp = ["31234567", "Globex Corporation", "400 Main St", "Hartford", "CT", "6103"]
    rows = [
        emp + ["Müller", "Jürgen", "78-05-1234".replace("-", ""), "1980-02-11", "Hartford, US", "United States",
               "United States", "2015-05-01", "Switzerland", "2027-01-01", "2029-12-31", "Globex AG", "Zürich",
               "", "US employer", "relocation paid"],
        emp + ["Côté", "Élise", "234-12-5678", "07/04/1985", "Montréal, Canada", "US;CA", "US", "2018-03-15",
               "Canada", "2027-02-01", "2030-01-31", "Globex Canada Inc", "Montréal", "QC", "US employer", ""],
        emp + ["Smith", "Robert", "345-23-6789", "1978-09-30", "Denver, US", "US", "US", "2012-01-09",
               "Canada", "2027-03-01", "2034-02-28", "Globex Canada Inc", "Toronto", "ON", "US employer", ""],
        emp + ["Jensen", "Mette", "456-34-7890", "1989-12-12", "Aarhus, Denmark", "US", "US", "2019-06-03",
               "Greenland", "2027-04-01", "2028-03-31", "Globex Nuuk", "Nuuk", "", "US employer", ""],
        emp + ["Park", "Min-jun", "567-45-8901", "1993-05-05", "Seoul, Korea", "South Korea", "US", "2023-01-02",
               "Korea", "2027-01-15", "2029-01-14", "Globex Korea", "Seoul", "", "US employer", ""],
        emp + ["Walsh", "Aoife", "678-56-9012", "1990-01-20", "Boston, US", "US", "US", "2028-01-01",
               "Ireland", "2027-05-01", "2028-04-30", "Globex Ireland", "Dublin", "", "US employer", ""],
    ]
    with (HERE / "globex-payroll-export.csv").open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)


def initech() -> None:
    """Self-employed consultants and a few edge cases of the agreements' rules."""
    header = ["Worker type", "Last name", "First name", "Social Security number", "Date of birth", "Place of birth",
              "Citizenship", "Country of residence", "Host country", "Assignment start date", "Assignment end date",
              "Worksite city", "Worksite region", "Nature of business", "Health insurance abroad",
              "Confirmation e-mail"]
    rows = [
        ["self-employed", "Alvarez", "Sofia", "301-44-5520", D(1982, 4, 4), "Miami, United States", "US", "US",
         "Netherlands", D(2027, 2, 1), D(2028, 1, 31), "Amsterdam", None, "IT consulting", None,
         "sofia@alvarez-consulting.example"],
        ["self-employed", "Becker", "Tom", "302-55-6631", D(1979, 9, 9), "Austin, United States", "US", "US",
         "Australia", D(2027, 3, 1), D(2028, 2, 28), "Sydney", None, "Architecture", None, None],
        ["self-employed", "Chen", "Wei", "303-66-7742", D(1987, 1, 30), "Seattle, United States", "US", "US",
         "France", D(2027, 1, 4), D(2030, 1, 3), "Paris", None, "Translation services", "Y",
         "wei.chen@example"],
        ["self-employed", "Davies", "Rhys", "304-77-8853", D(1985, 6, 15), "Cardiff, United Kingdom", "US;GB",
         "GB", "United Kingdom", D(2027, 1, 4), D(2028, 1, 3), "Cardiff", "Wales", "Film production", None,
         None],
        ["self-employed", "Evans", "Mia", "305-88-9964", D(1991, 2, 2), "Portland, United States", "US", "US",
         "Isle of Man", D(2027, 2, 1), D(2029, 1, 31), "Douglas", None, "Software", None,
         "mia@evans.example"],
        ["self-employed", "Fischer", "Lena", "306-99-1075", D(1988, 8, 8), "Vienna, Austria", "AT", "AT",
         "Austria", D(2027, 2, 1), D(2028, 1, 31), "Vienna", None, "Design", None, None],
    ]
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Consultants"
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(HERE / "initech-contractors.xlsx")


if __name__ == "__main__":
    acme()
    globex()
    initech()
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.*") if p.suffix in {".xlsx", ".csv"})))
