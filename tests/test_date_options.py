"""Every date option of every command names itself when its value is wrong: the message says which option to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coc_intake.cli import app

#: Every date option, by command.
DATE_OPTIONS = [("run", "--as-of"), ("validate", "--as-of"), ("report", "--since"), ("report", "--until")]
ALL_NAMES = {option for _, option in DATE_OPTIONS}


def _invoke(command: str, option: str, value: str, tmp_path: Path) -> str:
    """``coc <command> <option> <value>``: each stops at the date, before Prefect or a file is touched."""
    (tmp_path / "f.csv").write_text("x\n1\n")
    args = {"run": ["run", "--inbox", str(tmp_path), "--outbox", str(tmp_path / "out")],
            "validate": ["validate", str(tmp_path / "f.csv")],
            "report": ["report", "--outbox", str(tmp_path / "out"), "--out", str(tmp_path / "rep")]}[command]
    result = CliRunner().invoke(app, [*args, option, value])
    assert result.exit_code == 2, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize(("command", "option"), DATE_OPTIONS)
def test_a_date_that_does_not_exist_is_refused_under_its_own_name(command: str, option: str,
                                                                   tmp_path: Path) -> None:
    text = _invoke(command, option, "2026-13-01", tmp_path)
    assert f"Error: {option} '2026-13-01' is not a date" in text
    assert f"e.g. {option} " in text
    assert [name for name in ALL_NAMES - {option} if name in text] == []


@pytest.mark.parametrize(("command", "option"), DATE_OPTIONS)
def test_a_date_out_of_range_is_refused_under_its_own_name(command: str, option: str, tmp_path: Path) -> None:
    text = _invoke(command, option, "2999-01-01", tmp_path)
    assert f"Error: {option} 2999-01-01 is out of range" in text and f"leave {option} out" in text
    assert [name for name in ALL_NAMES - {option} if name in text] == []


def test_since_after_until_names_both(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--outbox", str(tmp_path), "--since", "2026-12-01",
                                      "--until", "2026-11-01"])
    assert result.exit_code == 2
    assert "--since 2026-12-01 is after --until 2026-11-01" in " ".join(result.output.split())
