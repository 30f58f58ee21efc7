"""``referrals.referral_counts``: referrals decided, approved, denied and waiting, and how long they waited, in all,
by reason and by host, over the batches as of a period (docs/decisions.md#referrals)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coc_intake.outbox import Outbox
from coc_intake.referrals import Filters, Queue, Tally, batch_decisions, decide, referral_counts
from coc_intake.settings import Settings
from coc_intake.store import LocalStore
from tests.test_referrals import NEW, OLD, TODAY, build_outbox


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(15, 30), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Outbox:
    """The referrals of tests/test_referrals.py: Early (40 days ago, DE), Long and Other (3 days ago, DE), Solo
    (3 days ago, AT, self-employed). Early approved after 10 days then denied after 20; Other approved after 1."""
    outbox = Outbox(LocalStore(build_outbox(tmp_path_factory.mktemp("counts"))))
    by_worker = {r.worker: r.request_id for r in Queue.load(outbox).select(_all(), TODAY)[0]}
    settings = Settings()
    decide(outbox, by_worker["Early, Jane"], "approved", "ok", "Ann", settings, now=_at(OLD + dt.timedelta(10)))
    decide(outbox, by_worker["Early, Jane"], "denied", "no", "Bob", settings, now=_at(OLD + dt.timedelta(20)))
    decide(outbox, by_worker["Other, Jane"], "approved", "ok", "Ann", settings, now=_at(NEW + dt.timedelta(1)))
    return outbox


def _all() -> Filters:
    return Filters(include_decided=True)


def test_counts_say_decided_by_the_latest_decision_and_how_long_each_waited(outbox: Outbox) -> None:
    counts = referral_counts(outbox, today=TODAY)
    # Waited to the first decision: 10 and 1 days; still waiting: 3 and 3 days.
    assert counts.total == Tally(referred=4, decided=2, approved=1, denied=1, waiting=2, wait_median_days=5.5,
                                 wait_p90_days=pytest.approx(9.1), waiting_age_median_days=3.0,
                                 waiting_age_p90_days=3.0)


def test_counts_by_reason_and_by_host(outbox: Outbox) -> None:
    counts = referral_counts(outbox, today=TODAY)
    # Long's German request overlaps its French one: two reasons, counted under each.
    assert sorted(counts.by_reason) == ["concurrent-assignments", "exceeds-detachment-limit", "self-employed-review"]
    assert (counts.by_reason["concurrent-assignments"].referred, counts.by_reason["concurrent-assignments"].waiting
            ) == (1, 1)
    limit = counts.by_reason["exceeds-detachment-limit"]
    assert (limit.referred, limit.decided, limit.approved, limit.denied, limit.waiting) == (3, 2, 1, 1, 1)
    review = counts.by_reason["self-employed-review"]
    assert (review.referred, review.waiting, review.wait_median_days, review.waiting_age_median_days) == (
        1, 1, None, 3.0)
    assert {host: t.referred for host, t in counts.by_host.items()} == {"AT": 1, "DE": 3}


def test_counts_take_the_batches_as_of_the_period(outbox: Outbox) -> None:
    recent = referral_counts(outbox, since=NEW, today=TODAY)
    assert (recent.total.referred, recent.total.decided, recent.total.approved, recent.total.waiting) == (3, 1, 1, 2)
    assert recent.since == NEW and recent.until is None
    old = referral_counts(outbox, until=OLD, today=TODAY)
    assert (old.total.referred, old.total.denied, old.total.wait_median_days) == (1, 1, 10.0)
    assert referral_counts(outbox, since=TODAY + dt.timedelta(1), today=TODAY).total == Tally()


def test_an_outbox_without_referrals_counts_nothing(tmp_path: Path) -> None:
    counts = referral_counts(Outbox(LocalStore(tmp_path)), today=TODAY)
    assert counts.total == Tally() and counts.by_reason == {} and counts.by_host == {}


def test_the_queue_pages_oldest_first(outbox: Outbox) -> None:
    queue = Queue.load(outbox)
    every, total = queue.select(_all(), TODAY)
    pages = [queue.select(_all(), TODAY, limit=3, offset=at) for at in (0, 3)]
    assert [r.request_id for r in pages[0][0] + pages[1][0]] == [r.request_id for r in every]
    assert [len(page) for page, _ in pages] == [3, 1] and {n for _, n in pages} == {total} == {4}


def test_a_batch_shows_the_latest_decision_on_each_of_its_referrals(outbox: Outbox) -> None:
    referrals, _ = Queue.load(outbox).select(_all(), TODAY)
    by_worker = {r.worker: r for r in referrals}
    early, other = by_worker["Early, Jane"], by_worker["Other, Jane"]
    assert {rid: d["decision"] for rid, d in batch_decisions(outbox, early.batch_id).items()} == {
        early.request_id: "denied"}
    assert {rid: (d["decision"], d["n"]) for rid, d in batch_decisions(outbox, other.batch_id).items()} == {
        other.request_id: ("approved", 1)}
