"""Retries only where they help: a transient failure (a store that did not answer) is retried with backoff; a
problem in the data or the code is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from coc_intake import batch
from coc_intake.batch import InboxListing
from coc_intake.errors import TransientError


def test_a_transient_store_failure_is_retried_until_it_passes(prefect_harness: None, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    from coc_intake.flows import intake as intake_flow

    calls: list[int] = []
    real = batch.survey_inbox

    def flaky(store: object) -> InboxListing:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("S3 did not answer (EndpointConnectionError)")
        return real(store)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "survey_inbox", flaky)
    monkeypatch.setattr(intake_flow.survey_inbox, "retry_delay_seconds", [0.1, 0.1, 0.1])

    @flow
    def probe() -> InboxListing:
        return intake_flow.survey_inbox(str(tmp_path))

    assert probe() == InboxListing()
    assert len(calls) == 3


def test_a_data_or_code_error_is_not_retried(prefect_harness: None, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    from coc_intake.flows import intake as intake_flow

    calls: list[int] = []

    def broken(store: object) -> InboxListing:
        calls.append(1)
        raise ValueError("cell value 123-45-6789 is not a date")

    monkeypatch.setattr(batch, "survey_inbox", broken)
    monkeypatch.setattr(intake_flow.survey_inbox, "retry_delay_seconds", [0.1, 0.1, 0.1])

    @flow
    def probe() -> None:
        intake_flow.survey_inbox(str(tmp_path))

    with pytest.raises(Exception) as failure:
        probe()
    assert len(calls) == 1
    assert "123-45-6789" not in str(failure.value)
    assert "***-**-6789" in str(failure.value)
