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


def test_the_limits_can_be_a_table_in_the_file_and_the_environment_still_wins(tmp_path: Path) -> None:
    config = tmp_path / "coc.toml"
    config.write_text("max_columns = 12\n[limits]\nmax_rows = 10\nmax_ratio = 3.5\n")
    s = Settings.from_env({"COC_CONFIG": str(config), "COC_MAX_RATIO": "7"})
    assert (s.limits.max_rows, s.limits.max_columns, s.limits.max_ratio) == (10, 12, 7.0)
    assert s.limits.max_bytes == 50 * 1024 * 1024


@pytest.mark.parametrize(("text", "message"), [
    ("[limits]\nmax_rowz = 1\n", r"max_rowz.*max_rows"),
    ("max_rows = 1\n[limits]\nmax_rows = 2\n", r"max_rows set both"),
    ("limits = 5\n", r"\[limits\] table"),
    ("smtp_port = \n", r"not valid TOML"),
])
def test_a_wrong_limits_table_or_file_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "coc.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"COC_CONFIG": str(config)})


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COC_SMTP_PORT", "587")
    monkeypatch.setenv("COC_MAX_ROWS", "5")
    monkeypatch.setenv("COC_MAX_COLUMNS", "6")
    assert Settings().smtp_port == 587 and Settings().limits.max_rows == 5
    s = Settings(smtp_port=2525, max_rows=3)  # type: ignore[call-arg]  # flat, as in the file; typed: limits=
    assert s.smtp_port == 2525
    assert (s.limits.max_rows, s.limits.max_columns) == (3, 6)


def test_an_unknown_environment_variable_is_an_error_that_lists_the_variables() -> None:
    with pytest.raises(ConfigError, match=r"COC_SMTP_HOTS.*COC_SMTP_HOST"):
        Settings.from_env({"COC_SMTP_HOTS": "mail.example"})


def test_other_variables_and_empty_ones_are_ignored() -> None:
    s = Settings.from_env({"HOME": "/root", "COCOA": "1", "COC_SMTP_HOST": "", "COC_MAX_ROWS": ""})
    assert s.smtp_host is None and s.limits.max_rows == 1_048_576


@pytest.mark.parametrize(("name", "value", "wanted"), [
    ("COC_S3_ADDRESSING_STYLE", "sideways", "'auto', 'virtual' or 'path'"),
    ("COC_SMTP_SECURITY", "tls", "'none', 'starttls' or 'ssl'"),
    ("COC_MAX_RATIO", "lots", "a number"),
    ("COC_MAX_ROWS", "0", "greater than 0"),
    ("COC_CLAIM_TTL_SECONDS", "1h", "a number"),
])
def test_a_bad_value_is_one_line_naming_the_setting_its_variable_and_what_it_must_be(
        name: str, value: str, wanted: str) -> None:
    setting = name.removeprefix("COC_").lower()
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert "\n" not in message
    assert f"{setting} ({name}) is {value!r} but must be {wanted}" in message


def test_a_bad_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "coc.toml"
    config.write_text('smtp_security = "tls"\nsmtp_password = 1234\n')
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"COC_CONFIG": str(config)})
    message = str(caught.value)
    assert "smtp_security in " + str(config) in message
    assert "1234" not in message  # a password is not repeated into logs, even a wrong one


def test_the_s3_settings_come_from_the_environment_or_the_file(tmp_path: Path) -> None:
    config = tmp_path / "coc.toml"
    config.write_text('s3_kms_key_id = "alias/from-file"\ns3_addressing_style = "virtual"\n')
    s = Settings.from_env({"COC_CONFIG": str(config), "COC_S3_ADDRESSING_STYLE": "path"})
    assert (s.s3_kms_key_id, s.s3_addressing_style) == ("alias/from-file", "path")
    assert (Settings.from_env({}).s3_kms_key_id, Settings.from_env({}).s3_addressing_style) == (None, "auto")


def test_an_s3_store_takes_encryption_and_addressing_from_the_settings_it_is_given() -> None:
    from coc_intake.s3store import S3Store
    from coc_intake.store import open_store

    store = S3Store("s3://bucket/in", settings=Settings(s3_kms_key_id="alias/k", s3_addressing_style="path"))
    assert store.encryption == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/k"}
    assert store.client.meta.config.s3["addressing_style"] == "path"
    plain = open_store("s3://bucket/in", Settings.from_env({}))
    assert isinstance(plain, S3Store) and plain.encryption == {"ServerSideEncryption": "AES256"}
    assert plain.client.meta.config.s3["addressing_style"] == "auto"


def test_settings_are_frozen_hashable_and_keep_the_password_out_of_their_repr() -> None:
    s = Settings.from_env({"COC_SMTP_PASSWORD": "s3cret", "COC_MAX_ROWS": "9"})
    assert hash(s) == hash(Settings.from_env({"COC_SMTP_PASSWORD": "s3cret", "COC_MAX_ROWS": "9"}))
    assert "s3cret" not in repr(s)
    with pytest.raises(ValueError, match="frozen"):
        s.smtp_port = 26
    with pytest.raises(ValueError, match="frozen"):
        s.limits.max_rows = 1
