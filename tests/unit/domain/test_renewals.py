from __future__ import annotations

import calendar
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import Allowance, BucketKind, Offer, OfferKind, Period
from simrenew.domain.errors import CardNotRenewable, OfferNotAvailable, QueueLimitExceeded
from simrenew.domain.renewals import (
    NewBucket,
    RenewalPlan,
    ValidityPeriod,
    is_running,
    period_end,
    plan_renewal,
    queue_limit,
)
from simrenew.domain.timeutil import end_of_day, start_of_day
from tests.unit.domain.builders import (
    HK,
    hk,
    hkd,
    make_card,
    make_line,
    make_offer,
    make_period,
    make_quote,
)

TODAY = date(2026, 6, 10)
NOW = hk(2026, 6, 10, 14, 30)
LINE = make_line()
DATA_10G = Allowance("GBA", BucketKind.DATA_MB, 10_240)
BONUS_1G = Allowance("GBA", BucketKind.DATA_MB, 1024)

M30 = make_offer("M30", period=Period(30, "days"), allowances=(DATA_10G,))
MONTH = make_offer("MONTH", period=Period(1, "months"), allowances=(DATA_10G,))
YEAR = make_offer("Y12", price="888", period=Period(12, "months"), allowances=(DATA_10G,))
ADDON_7D = make_offer(
    "ADD5G",
    kind=OfferKind.ADDON,
    price="30",
    period=Period(7, "days"),
    allowances=(Allowance("HK", BucketKind.DATA_MB, 5120),),
)
KEEP_30D = make_offer("KEEP30", kind=OfferKind.VALIDITY, price="10", allowances=())


def credit(price: str) -> Offer:
    return make_offer(f"CR{price}", kind=OfferKind.CREDIT, price=price, period=None, allowances=())


def running_card(validity_end: date = date(2026, 6, 30)) -> tuple[Card, list[ValidityPeriod]]:
    card = make_card(state=CardState.ACTIVE, validity_end=validity_end)
    return card, [make_period(validity_end - timedelta(days=29), validity_end)]


def grace_card() -> Card:
    return make_card(state=CardState.GRACE, validity_end=date(2026, 6, 1))


def renew(
    card: Card,
    offer: Offer,
    *,
    periods: list[ValidityPeriod] | None = None,
    now: datetime = NOW,
    bonus: tuple[Allowance, ...] = (),
) -> RenewalPlan:
    return plan_renewal(
        card,
        make_quote(offer, bonus=bonus),
        LINE,
        periods=periods or [],
        now=now,
        tz=HK,
        order_id="ord_1",
    )


# --- refusals --------------------------------------------------------------------------------


def test_a_terminated_card_cannot_be_renewed() -> None:
    card = make_card(state=CardState.TERMINATED, validity_end=date(2026, 3, 1))
    with pytest.raises(CardNotRenewable) as caught:
        renew(card, M30)
    assert caught.value.code == "card_not_renewable"
    assert caught.value.params == {"card": card.iccid, "state": "terminated"}
    assert "a new card is needed" in caught.value.message


def test_an_offer_of_another_product_line_is_refused() -> None:
    card, periods = running_card()
    other = make_offer("HKD30", product_line="HKDATA")
    with pytest.raises(OfferNotAvailable) as caught:
        renew(card, other, periods=periods)
    assert caught.value.code == "offer_not_available"


# --- plans -----------------------------------------------------------------------------------


def test_a_plan_bought_while_running_is_queued_after_the_current_validity() -> None:
    card, periods = running_card(date(2026, 6, 30))

    plan = renew(card, M30, periods=periods)

    assert plan.period == ValidityPeriod(
        "card_1", date(2026, 7, 1), date(2026, 7, 30), "ord_1", "M30"
    )
    assert plan.validity_end == date(2026, 7, 30)
    assert plan.new_state is CardState.ACTIVE
    assert plan.buckets == (
        NewBucket(DATA_10G, hk(2026, 7, 1, 0), datetime(2026, 7, 30, 15, 59, 59, tzinfo=UTC)),
    )
    assert plan.credit_minor == 0
    assert plan.rollover_until is None


def test_a_monthly_plan_runs_to_the_day_before_the_same_date_next_month() -> None:
    card, periods = running_card(date(2026, 6, 30))

    plan = renew(card, MONTH, periods=periods)

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (date(2026, 7, 1), date(2026, 7, 31))


def test_a_plan_bought_in_grace_starts_today_and_reactivates() -> None:
    plan = renew(grace_card(), M30)

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (TODAY, date(2026, 7, 9))
    assert plan.validity_end == date(2026, 7, 9)
    assert plan.new_state is CardState.ACTIVE
    assert plan.activates
    # Usable from the moment of purchase, not from midnight.
    assert plan.buckets == (NewBucket(DATA_10G, NOW, end_of_day(date(2026, 7, 9), HK)),)


def test_a_plan_on_a_card_in_stock_activates_it_from_today() -> None:
    plan = renew(make_card(state=CardState.IN_STOCK), M30)

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (TODAY, date(2026, 7, 9))
    assert plan.new_state is CardState.ACTIVE


def test_an_active_card_past_its_validity_is_not_running() -> None:
    # The expiry job has not moved it to grace yet; the new period still starts today.
    card = make_card(state=CardState.ACTIVE, validity_end=TODAY - timedelta(days=1))

    plan = renew(card, M30)

    assert plan.period is not None
    assert plan.period.start == TODAY


def test_the_last_day_of_validity_is_still_running() -> None:
    card, periods = running_card(TODAY)
    plan = renew(card, M30, periods=periods)
    assert plan.period is not None
    assert plan.period.start == TODAY + timedelta(days=1)


def test_bonus_allowances_are_added_to_the_plan() -> None:
    card, periods = running_card()

    plan = renew(card, M30, periods=periods, bonus=(BONUS_1G,))

    assert [b.allowance for b in plan.buckets] == [DATA_10G, BONUS_1G]
    assert len({(b.valid_from, b.valid_until) for b in plan.buckets}) == 1


def test_rollover_is_set_only_for_a_running_card() -> None:
    rolling = dataclasses.replace(M30, rollover=True)
    card, periods = running_card(date(2026, 6, 30))

    running = renew(card, rolling, periods=periods)
    in_grace = renew(grace_card(), rolling)
    not_rolling = renew(card, M30, periods=periods)

    assert running.rollover_until == end_of_day(date(2026, 7, 30), HK)
    assert in_grace.rollover_until is None
    assert not_rolling.rollover_until is None


# --- add-ons ---------------------------------------------------------------------------------


def test_an_addon_is_valid_from_purchase_and_never_extends_validity() -> None:
    card, periods = running_card(date(2026, 6, 30))

    plan = renew(card, ADDON_7D, periods=periods, bonus=(BONUS_1G,))

    assert plan.validity_end == date(2026, 6, 30)
    assert plan.period is None
    assert plan.new_state is CardState.ACTIVE
    assert plan.credit_minor == 0
    until = end_of_day(date(2026, 6, 16), HK)
    assert plan.buckets == (
        NewBucket(ADDON_7D.allowances[0], NOW, until),
        NewBucket(BONUS_1G, NOW, until),
    )


def test_an_addon_until_plan_end_is_cut_at_the_validity_end() -> None:
    short = dataclasses.replace(ADDON_7D, until_plan_end=True)
    card, periods = running_card(date(2026, 6, 12))

    plan = renew(card, short, periods=periods)

    assert [b.valid_until for b in plan.buckets] == [end_of_day(date(2026, 6, 12), HK)]
    assert plan.validity_end == date(2026, 6, 12)


def test_an_addon_until_plan_end_keeps_its_own_length_inside_a_long_plan() -> None:
    short = dataclasses.replace(ADDON_7D, until_plan_end=True)
    card, periods = running_card(date(2026, 6, 30))

    plan = renew(card, short, periods=periods)

    assert [b.valid_until for b in plan.buckets] == [end_of_day(date(2026, 6, 16), HK)]


def test_an_addon_not_tied_to_the_plan_may_outlive_it() -> None:
    card, periods = running_card(date(2026, 6, 12))
    plan = renew(card, ADDON_7D, periods=periods)
    assert [b.valid_until for b in plan.buckets] == [end_of_day(date(2026, 6, 16), HK)]
    assert plan.validity_end == date(2026, 6, 12)


@pytest.mark.parametrize(
    "card",
    [
        make_card(state=CardState.GRACE, validity_end=date(2026, 6, 1)),
        make_card(state=CardState.IN_STOCK),
        make_card(state=CardState.ACTIVE, validity_end=TODAY - timedelta(days=1)),
    ],
    ids=["grace", "in_stock", "active_but_expired"],
)
def test_an_addon_needs_a_running_period(card: Card) -> None:
    with pytest.raises(OfferNotAvailable):
        renew(card, ADDON_7D)


# --- credit and validity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "days"),
    [("20", 0), ("49.99", 0), ("50", 180), ("99.99", 180), ("100", 365), ("1000", 365)],
)
def test_the_credit_band_table(price: str, days: int) -> None:
    assert LINE.credit_validity_days(hkd(price)) == days


def test_credit_in_grace_extends_validity_by_its_band_and_credits_the_value() -> None:
    plan = renew(grace_card(), credit("50"))

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (TODAY, TODAY + timedelta(days=179))
    assert plan.validity_end == TODAY + timedelta(days=179)
    assert plan.new_state is CardState.ACTIVE
    assert plan.credit_minor == 5000
    assert plan.buckets == ()


def test_credit_while_running_is_queued() -> None:
    card, periods = running_card(date(2026, 6, 30))
    plan = renew(card, credit("100"), periods=periods)
    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (date(2026, 7, 1), date(2027, 6, 30))
    assert plan.credit_minor == 10_000


@pytest.mark.parametrize(
    "card",
    [
        make_card(state=CardState.ACTIVE, validity_end=date(2026, 6, 30)),
        make_card(state=CardState.GRACE, validity_end=date(2026, 6, 1)),
        make_card(state=CardState.IN_STOCK),
    ],
    ids=["active", "grace", "in_stock"],
)
def test_credit_below_the_lowest_band_only_adds_value(card: Card) -> None:
    plan = renew(card, credit("20"), periods=[make_period(date(2026, 6, 1), date(2026, 6, 30))])

    assert plan.validity_end == card.validity_end
    assert plan.period is None
    assert plan.new_state is card.state
    assert plan.credit_minor == 2000
    assert plan.buckets == ()


def test_a_validity_offer_extends_validity_only() -> None:
    card, periods = running_card(date(2026, 6, 30))

    plan = renew(card, KEEP_30D, periods=periods)

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (date(2026, 7, 1), date(2026, 7, 30))
    assert plan.validity_end == date(2026, 7, 30)
    assert plan.buckets == ()
    assert plan.credit_minor == 0


def test_a_bonus_on_a_validity_offer_lasts_to_the_end_of_the_new_period() -> None:
    card, periods = running_card(date(2026, 6, 30))
    plan = renew(card, KEEP_30D, periods=periods, bonus=(BONUS_1G,))
    assert plan.buckets == (NewBucket(BONUS_1G, NOW, end_of_day(date(2026, 7, 30), HK)),)


# --- the queue limit -------------------------------------------------------------------------


def test_queue_limit_is_twelve_months_after_the_period_running_today() -> None:
    card, periods = running_card(date(2026, 6, 30))
    queued = make_period(date(2026, 7, 1), date(2026, 9, 30))
    card = dataclasses.replace(card, validity_end=date(2026, 9, 30))

    assert queue_limit(card, [*periods, queued], TODAY) == date(2027, 6, 30)
    assert queue_limit(grace_card(), [], TODAY) == date(2027, 6, 10)


def test_twelve_monthly_plans_fit_in_the_queue_and_a_thirteenth_does_not() -> None:
    card, periods = running_card(date(2026, 6, 30))
    for _ in range(12):
        plan = renew(card, MONTH, periods=periods)
        assert plan.period is not None
        periods.append(plan.period)
        card = dataclasses.replace(card, validity_end=plan.validity_end)
    assert card.validity_end == date(2027, 6, 30)

    with pytest.raises(QueueLimitExceeded) as caught:
        renew(card, MONTH, periods=periods)
    assert caught.value.code == "queue_limit_exceeded"
    assert caught.value.params == {
        "new_end": "2027-07-31",
        "limit_end": "2027-06-30",
        "limit_months": 12,
    }


def test_in_grace_a_yearly_plan_fits_and_thirteen_months_do_not() -> None:
    assert renew(grace_card(), YEAR).validity_end == date(2027, 6, 9)
    thirteen = make_offer("M13", period=Period(13, "months"))
    with pytest.raises(QueueLimitExceeded):
        renew(grace_card(), thirteen)


def test_a_yearly_plan_can_be_queued_after_a_period_ending_on_28_february() -> None:
    # The period running today ends on 28 Feb 2027; a 12-month plan queued behind it
    # covers 1 Mar 2027 .. 29 Feb 2028 (2028 is a leap year): exactly 12 months queued,
    # which the spec allows.
    today = date(2027, 2, 10)
    card = make_card(state=CardState.ACTIVE, validity_end=date(2027, 2, 28))
    periods = [make_period(date(2026, 3, 1), date(2027, 2, 28))]

    plan = renew(card, YEAR, periods=periods, now=hk(today.year, today.month, today.day))

    assert plan.period is not None
    assert (plan.period.start, plan.period.end) == (date(2027, 3, 1), date(2028, 2, 29))


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        (date(2026, 6, 10), Period(1, "days"), date(2026, 6, 10)),
        (date(2026, 6, 10), Period(30, "days"), date(2026, 7, 9)),
        (date(2026, 6, 10), Period(1, "months"), date(2026, 7, 9)),
        (date(2026, 1, 1), Period(12, "months"), date(2026, 12, 31)),
        (date(2026, 12, 1), Period(3, "months"), date(2027, 2, 28)),
        (date(2027, 12, 1), Period(3, "months"), date(2028, 2, 29)),
    ],
)
def test_period_end(start: date, period: Period, end: date) -> None:
    assert period_end(start, period) == end


@pytest.mark.parametrize(("count", "unit"), [(0, "days"), (-1, "months"), (1, "weeks")])
def test_a_period_must_be_positive_days_or_months(count: int, unit: str) -> None:
    with pytest.raises(ValueError):
        Period(count, unit)


def test_period_describe() -> None:
    assert Period(1, "days").describe() == "1 day"
    assert Period(30, "days").describe() == "30 days"
    assert Period(12, "months").describe() == "12 months"


def test_is_running() -> None:
    assert is_running(make_card(validity_end=TODAY), TODAY)
    assert not is_running(make_card(validity_end=TODAY - timedelta(days=1)), TODAY)
    assert not is_running(make_card(state=CardState.GRACE, validity_end=TODAY), TODAY)
    assert not is_running(make_card(state=CardState.IN_STOCK), TODAY)


# --- property: stacking never loses or doubles a day -----------------------------------------


def months_later(day: date, months: int) -> date:
    """Independent oracle: step month by month, clamp to the month's last day."""
    year, month = day.year, day.month
    for _ in range(months):
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expected_end(start: date, period: Period) -> date:
    if period.unit == "days":
        return start + timedelta(days=period.count - 1)
    return months_later(start, period.count) - timedelta(days=1)


EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
purchases = st.lists(
    st.tuples(
        st.integers(0, 60 * 24 * 60),  # minutes since the previous purchase (up to 60 days)
        st.one_of(
            st.builds(Period, st.integers(1, 400), st.just("days")),
            st.builds(Period, st.integers(1, 13), st.just("months")),
        ),
        st.booleans(),  # has the expiry job moved an expired card to grace?
    ),
    min_size=1,
    max_size=12,
)


@given(
    start_minutes=st.integers(0, 4 * 365 * 24 * 60),
    initially_running=st.booleans(),
    before=st.integers(0, 30),
    after=st.integers(0, 60),
    steps=purchases,
)
@settings(max_examples=200, deadline=None)
def test_stacking_never_loses_or_doubles_a_day(
    start_minutes: int,
    initially_running: bool,
    before: int,
    after: int,
    steps: list[tuple[int, Period, bool]],
) -> None:
    now = EPOCH + timedelta(minutes=start_minutes)
    today = now.astimezone(HK).date()
    if initially_running:
        first = make_period(today - timedelta(days=before), today + timedelta(days=after))
        card = make_card(state=CardState.ACTIVE, validity_end=first.end)
    else:
        end = today - timedelta(days=1 + before % 29)
        first = make_period(end - timedelta(days=29), end)
        card = make_card(state=CardState.GRACE, validity_end=end)
    periods = [first]
    contiguous = [True]  # was each period bought while the previous one ran?

    for gap, period, expiry_job_ran in steps:
        now += timedelta(minutes=gap)
        today = now.astimezone(HK).date()
        validity_end = card.validity_end
        assert validity_end is not None
        if card.state is CardState.ACTIVE and validity_end < today and expiry_job_ran:
            card = card.move_to(CardState.GRACE, reason="expired", actor="test", at=now)
        running = card.state is CardState.ACTIVE and validity_end >= today
        start = validity_end + timedelta(days=1) if running else today
        end = expected_end(start, period)
        limit = queue_limit(card, periods, today)
        offer = make_offer("P", period=period)

        event("running" if running else f"not running ({card.state.value})")
        if today > validity_end + timedelta(days=make_line().grace_days):
            # Past its grace the card is finished, whether or not the sweep has run.
            event("refused: grace over")
            with pytest.raises(CardNotRenewable):
                renew(card, offer, periods=periods, now=now)
            continue
        if end > limit:
            event("refused: queue limit")
            with pytest.raises(QueueLimitExceeded) as caught:
                renew(card, offer, periods=periods, now=now)
            assert caught.value.params["new_end"] == end.isoformat()
            assert caught.value.params["limit_end"] == limit.isoformat()
            continue

        plan = renew(card, offer, periods=periods, now=now)

        assert plan.period is not None
        assert (plan.period.start, plan.period.end) == (start, end)
        assert plan.period.card_id == card.id
        assert plan.new_state is CardState.ACTIVE
        assert plan.validity_end == end
        if period.unit == "days":
            assert (end - start).days + 1 == period.count
        card = dataclasses.replace(card, validity_end=plan.validity_end, state=CardState.ACTIVE)
        periods.append(plan.period)
        contiguous.append(running)

    # Periods follow each other without overlap; one bought while the previous ran
    # starts the very next day, one bought after it had ended starts later.
    for previous, current, was_running in zip(
        periods[:-1], periods[1:], contiguous[1:], strict=True
    ):
        assert current.start > previous.end
        if was_running:
            assert current.start == previous.end + timedelta(days=1)
    assert card.validity_end == periods[-1].end
    assert all(p.start <= p.end for p in periods)


def test_start_of_day_is_used_for_queued_buckets() -> None:
    card, periods = running_card(date(2026, 6, 30))
    plan = renew(card, M30, periods=periods)
    assert plan.buckets[0].valid_from == start_of_day(date(2026, 7, 1), HK)


def test_a_card_past_its_grace_is_refused_before_the_sweep_marks_it() -> None:
    last_grace_day = date(2026, 6, 30) + timedelta(days=make_line().grace_days)
    card = make_card(state=CardState.GRACE, validity_end=date(2026, 6, 30))
    on_last_day = datetime(
        last_grace_day.year, last_grace_day.month, last_grace_day.day, 23, tzinfo=HK
    )
    assert renew(card, M30, now=on_last_day).new_state is CardState.ACTIVE
    with pytest.raises(CardNotRenewable):
        renew(card, M30, now=on_last_day + timedelta(hours=1))
