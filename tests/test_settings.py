"""Configuration in one place: defaults, an optional TOML file, environment variables on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from coc_intake.errors import ConfigError
from coc_intake.settings import Settings


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    s = Settings.from_env({"COC_CONFIG": ""})
    assert (s.smtp_host, s.smtp_port, s.schedule_cron, s.schedule_timezone) == (None, 25, "0 2 * * *",
                                                                                 "America/New_York")
    assert s.limits.max_rows == 1_048_576 and s.limits.max_columns == 200 and s.limits.max_ratio == 100
    assert s.inbox.endswith("inbox") and s.outbox.endswith("outbox")


def test_a_config_file_sets_values_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "coc.toml"
    config.write_text('smtp_host = "mail.example"\nsmtp_port = 2525\nmax_rows = 10\nschedule_cron = "0 3 * * *"\n')
    s = Settings.from_env({"COC_CONFIG": str(config), "COC_SMTP_PORT": "587"})
    assert s.smtp_host == "mail.example"
    assert s.smtp_port == 587
    assert s.limits.max_rows == 10
    assert s.schedule_cron == "0 3 * * *"


def test_an_unknown_setting_in_the_file_is_an_error_that_lists_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "coc.toml"
    config.write_text('smtp_hots = "typo"\n')
    with pytest.raises(ConfigError, match=r"smtp_hots.*smtp_host"):
        Settings.from_env({"COC_CONFIG": str(config)})


def test_a_missing_config_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.from_env({"COC_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(("name", "value"), [("COC_SMTP_PORT", "x"), ("COC_MAX_ROWS", "many"),
                                             ("COC_SMTP_SECURITY", "tls1.0")])
def test_a_bad_value_says_which_setting_is_wrong(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.removeprefix("COC_").lower() + "|" + name):
        Settings.from_env({name: value})
