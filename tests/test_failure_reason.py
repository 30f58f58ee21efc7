"""A failed file's reason, as the run's summary, its record and ``coc status`` show it: the original error, not the
wrapper that keeps SSNs out of Prefect."""

from __future__ import annotations

from coc_intake.night import FileFailure
from coc_intake.redact import sanitize
from coc_intake.sidecar import SidecarError


def test_a_failure_from_a_task_names_the_original_error_only() -> None:
    failure = FileFailure.of("portal-upload.xlsx", sanitize(SidecarError("its submission record cannot be read")))
    assert failure.error == "SidecarError: its submission record cannot be read"


def test_a_failure_names_its_error_type_and_masks_ssns() -> None:
    failure = FileFailure.of("Smith 523-45-6789.xlsx", OSError("disk full while writing 523-45-6789"))
    assert failure.name == "Smith ***-**-6789.xlsx"
    assert failure.error == "OSError: disk full while writing ***-**-6789"
