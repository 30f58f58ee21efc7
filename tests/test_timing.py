"""The benchmarks' stage timer: seconds, CPU seconds and peak memory per stage, and a no-op when off."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from coc_intake.timing import cpu_seconds, measured, stage


def _spin(seconds: float) -> None:
    end = cpu_seconds() + seconds
    while cpu_seconds() < end:
        sum(range(1000))


def test_a_waiting_stage_takes_wall_time_but_little_cpu() -> None:
    with measured() as stages, stage("wait"):
        time.sleep(0.3)
    assert stages.seconds["wait"] >= 0.3
    assert stages.cpu["wait"] < 0.15


def test_a_busy_stage_records_the_cpu_its_process_used() -> None:
    with measured() as stages, stage("work"):
        _spin(0.2)
    assert stages.cpu["work"] >= 0.2
    assert stages.peak_mb["work"] > 0


def test_a_stage_entered_twice_adds_up() -> None:
    with measured() as stages:
        for _ in range(2):
            with stage("work"):
                _spin(0.1)
    assert stages.cpu["work"] >= 0.2


def test_stages_off_record_nothing() -> None:
    with stage("before"):
        _spin(0.01)
    with measured() as stages:
        pass
    with stage("after"):
        _spin(0.01)
    assert not stages.seconds and not stages.cpu and not stages.peak_mb


def test_only_the_measuring_thread_s_stages_are_recorded() -> None:
    def work() -> None:
        with stage("elsewhere"):
            _spin(0.01)

    with measured() as stages, ThreadPoolExecutor(1) as pool:
        pool.submit(work).result()
        with stage("here"):
            pass
    assert list(stages.seconds) == ["here"]
