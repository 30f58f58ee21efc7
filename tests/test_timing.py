"""The benchmarks' stage timer: seconds, CPU seconds and peak memory per stage, and a no-op when off."""

from __future__ import annotations

import time

from coc_intake.timing import OFF, Stages, cpu_seconds


def _spin(seconds: float) -> None:
    end = cpu_seconds() + seconds
    while cpu_seconds() < end:
        sum(range(1000))


def test_a_waiting_stage_takes_wall_time_but_little_cpu() -> None:
    stages = Stages()
    with stages("wait"):
        time.sleep(0.3)
    assert stages.seconds["wait"] >= 0.3
    assert stages.cpu["wait"] < 0.15


def test_a_busy_stage_records_the_cpu_its_process_used() -> None:
    stages = Stages()
    with stages("work"):
        _spin(0.2)
    assert stages.cpu["work"] >= 0.2
    assert stages.peak_mb["work"] > 0


def test_a_stage_entered_twice_adds_up() -> None:
    stages = Stages()
    for _ in range(2):
        with stages("work"):
            _spin(0.1)
    assert stages.cpu["work"] >= 0.2


def test_stages_off_record_nothing() -> None:
    with OFF("work"):
        _spin(0.01)
    assert not OFF.seconds and not OFF.cpu and not OFF.peak_mb
