"""The policy engine: each sentence of the After-Sales Service Policy, as a pure function.

No database: ``PolicyTerms`` are built from an unsaved ``PolicyVersion``, whose
defaults are the published policy's numbers.
"""

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from returns import policy
from returns.models import ClaimType, DoaReason, PolicyVersion

DOA, NO_REASON, WARRANTY = ClaimType.DOA, ClaimType.NO_REASON, ClaimType.WARRANTY


@pytest.fixture
def terms():
    """The published policy, as a new ``PolicyVersion`` carries it."""
    return policy.PolicyTerms.from_version(PolicyVersion())


def judge(terms, claim_type, *, received_on, claimed_on, electronic=False):
    return policy.judge(
        terms, claim_type=claim_type, electronic=electronic, received_on=received_on, claimed_on=claimed_on
    )


# --- The published numbers ------------------------------------------------


def test_a_new_policy_version_carries_the_published_numbers():
    # given a policy version nobody has edited
    version = PolicyVersion()

    # when its terms are read
    terms = policy.PolicyTerms.from_version(version)

    # then they are the published policy's: 7 / 45 / 30 days, 24 / 12 months, shipping not reimbursed
    assert terms == policy.PolicyTerms(
        doa_days=7,
        no_reason_days=45,
        no_reason_electronic_days=30,
        warranty_months=24,
        warranty_electronic_months=12,
        no_reason_return_shipping_reimbursed=False,
    )


# --- "7 Days DOA Return Policy" ---------------------------------------------


@pytest.mark.parametrize("electronic", [False, True], ids=["non_electronic", "electronic"])
def test_7_days_doa_return_policy_window_is_7_days(terms, electronic):
    """ "7 Days DOA Return Policy": the same 7 days for electronic products."""
    # given goods received on 10 January 2024
    received = date(2024, 1, 10)

    # when the DOA window is asked for
    window, deadline = policy.window_deadline(terms, claim_type=DOA, electronic=electronic, received_on=received)

    # then it is 7 days long
    assert deadline == date(2024, 1, 17)
    assert window == "7-day DOA window"


def test_doa_conditions_are_the_four_reasons_the_policy_lists():
    """ "Wrong item received; Missing item; Physical damage or scratch; Product quality issue or the
    product cannot be used": the four, and only the four, DOA reasons."""
    assert dict(DoaReason.choices) == {
        "wrong_item": "Wrong item received",
        "missing_item": "Missing item",
        "damage": "Physical damage or scratch",
        "quality_issue": "Quality issue or cannot be used",
    }


def test_doa_gets_the_full_refund_and_return_shipping_cost_reimbursement(terms):
    """ "You will get the full refund and the return shipping cost reimbursement"."""
    # when a DOA claim in time is judged
    judgement = judge(terms, DOA, received_on=date(2024, 1, 10), claimed_on=date(2024, 1, 12))

    # then a passed inspection gives a full refund, and the return shipping is reimbursed
    assert judgement.eligible
    assert judgement.remedy == policy.REMEDY_FULL_REFUND
    assert judgement.return_shipping_reimbursed is True


# --- "45 Days Free-Reason Return Policy (30 Days for Electronic Products)" --


def test_45_days_free_reason_return_policy_for_non_electronic_products(terms):
    """ "within 45 days ... from the date that you receive it"."""
    window, deadline = policy.window_deadline(
        terms, claim_type=NO_REASON, electronic=False, received_on=date(2024, 5, 1)
    )

    assert deadline == date(2024, 6, 15)
    assert window == "45-day no-reason return window"


def test_30_days_for_electronic_products_no_reason_return(terms):
    """ "(30 Days for Electronic Products)"."""
    window, deadline = policy.window_deadline(
        terms, claim_type=NO_REASON, electronic=True, received_on=date(2024, 5, 1)
    )

    assert deadline == date(2024, 5, 31)
    assert window == "electronic products' 30-day no-reason return window"


def test_no_reason_return_gets_a_full_refund(terms):
    """ "you can apply the RMA for a full refund"."""
    judgement = judge(terms, NO_REASON, received_on=date(2024, 5, 1), claimed_on=date(2024, 5, 2))

    assert judgement.eligible
    assert judgement.remedy == policy.REMEDY_FULL_REFUND


def test_no_reason_return_shipping_is_not_reimbursed_by_default(terms):
    """The text only says shipping is "on your charge" when inspection fails; our default setting: not reimbursed."""
    judgement = judge(terms, NO_REASON, received_on=date(2024, 5, 1), claimed_on=date(2024, 5, 2))

    assert judgement.return_shipping_reimbursed is False


def test_no_reason_return_shipping_follows_the_policy_version_setting(terms):
    # given a policy version that reimburses no-reason return shipping
    generous = dataclasses.replace(terms, no_reason_return_shipping_reimbursed=True)

    # when a no-reason claim is judged under it
    judgement = judge(generous, NO_REASON, received_on=date(2024, 5, 1), claimed_on=date(2024, 5, 2))

    # then the return shipping is reimbursed
    assert judgement.return_shipping_reimbursed is True


# --- "2-Year Warranty (1-Year for Electronic Products)" --------------------


def test_2_year_warranty_for_non_electronic_products(terms):
    """ "Within 2-Year ... from the date that you receive the package"."""
    window, deadline = policy.window_deadline(
        terms, claim_type=WARRANTY, electronic=False, received_on=date(2023, 6, 15)
    )

    assert deadline == date(2025, 6, 15)
    assert window == "2-year warranty"


def test_1_year_warranty_for_electronic_products(terms):
    """ "(1-Year for Electronic Products)"."""
    window, deadline = policy.window_deadline(
        terms, claim_type=WARRANTY, electronic=True, received_on=date(2023, 6, 15)
    )

    assert deadline == date(2024, 6, 15)
    assert window == "electronic products' 1-year warranty"


def test_warranty_gets_the_part_or_product_replaced_with_return_shipping_on_the_customer(terms):
    """ "eligible to get the part/product replaced" ... "the return shipping is on your charge"."""
    judgement = judge(terms, WARRANTY, received_on=date(2023, 6, 15), claimed_on=date(2024, 1, 2))

    assert judgement.eligible
    assert judgement.remedy == policy.REMEDY_REPLACEMENT
    assert judgement.return_shipping_reimbursed is False


def test_warranty_return_shipping_stays_on_the_customer_whatever_the_no_reason_setting(terms):
    generous = dataclasses.replace(terms, no_reason_return_shipping_reimbursed=True)

    judgement = judge(generous, WARRANTY, received_on=date(2023, 6, 15), claimed_on=date(2024, 1, 2))

    assert judgement.return_shipping_reimbursed is False


def test_a_warranty_in_months_that_are_not_whole_years_is_named_in_months(terms):
    eighteen_months = dataclasses.replace(terms, warranty_months=18)

    window, deadline = policy.window_deadline(
        eighteen_months, claim_type=WARRANTY, electronic=False, received_on=date(2024, 1, 31)
    )

    assert window == "18-month warranty"
    assert deadline == date(2025, 7, 31)


# --- Sentences every claim type shares ------------------------------------


@pytest.mark.parametrize("claim_type", [DOA, NO_REASON, WARRANTY])
@pytest.mark.parametrize("electronic", [False, True], ids=["non_electronic", "electronic"])
def test_the_picture_of_the_entire_package_box_is_required_for_every_claim_type(terms, claim_type, electronic):
    """ "Please note that the picture of the entire package/box is also required" (all three sections)."""
    judgement = judge(
        terms, claim_type, received_on=date(2024, 5, 1), claimed_on=date(2024, 5, 2), electronic=electronic
    )

    assert judgement.whole_package_photo_required is True


@pytest.mark.parametrize("claim_type", [DOA, NO_REASON, WARRANTY])
def test_windows_count_from_the_date_that_you_receive_it_not_from_the_order(terms, claim_type):
    """ "from the date that you receive it": a claim made the day the goods arrive is in; the window's
    length is counted from the received day, whatever the date of the order."""
    received = date(2024, 5, 1)

    judgement = judge(terms, claim_type, received_on=received, claimed_on=received)
    later = judge(terms, claim_type, received_on=received + timedelta(days=10), claimed_on=received)

    assert judgement.eligible
    assert later.deadline - judgement.deadline == timedelta(days=10)


def test_the_window_numbers_come_from_the_policy_version_not_from_constants(terms):
    # given a later policy version with a 10-day DOA window
    longer = dataclasses.replace(terms, doa_days=10)

    # when a claim made on day 9 is judged by the published version and by the later one
    published = judge(terms, DOA, received_on=date(2024, 1, 1), claimed_on=date(2024, 1, 10))
    later = judge(longer, DOA, received_on=date(2024, 1, 1), claimed_on=date(2024, 1, 10))

    # then each answers by its own numbers
    assert not published.eligible
    assert later.eligible
    assert later.window == "10-day DOA window"


def test_an_unknown_claim_type_is_refused(terms):
    with pytest.raises(ValueError, match="unknown claim type"):
        policy.window_deadline(terms, claim_type="exchange", electronic=False, received_on=date(2024, 1, 1))


# --- Boundaries: the last day is in, the next day is out -------------------

RECEIVED = date(2024, 3, 10)
LAST_DAYS = [
    pytest.param(DOA, False, date(2024, 3, 17), id="doa"),
    pytest.param(DOA, True, date(2024, 3, 17), id="doa_electronic"),
    pytest.param(NO_REASON, False, date(2024, 4, 24), id="no_reason"),
    pytest.param(NO_REASON, True, date(2024, 4, 9), id="no_reason_electronic"),
    pytest.param(WARRANTY, False, date(2026, 3, 10), id="warranty"),
    pytest.param(WARRANTY, True, date(2025, 3, 10), id="warranty_electronic"),
]


@pytest.mark.parametrize(("claim_type", "electronic", "last_day"), LAST_DAYS)
def test_a_claim_on_the_last_day_of_the_window_is_in(terms, claim_type, electronic, last_day):
    judgement = judge(terms, claim_type, received_on=RECEIVED, claimed_on=last_day, electronic=electronic)

    assert judgement.eligible
    assert judgement.deadline == last_day
    assert judgement.days_over == 0


@pytest.mark.parametrize(("claim_type", "electronic", "last_day"), LAST_DAYS)
def test_a_claim_on_the_day_after_the_window_is_out(terms, claim_type, electronic, last_day):
    judgement = judge(
        terms, claim_type, received_on=RECEIVED, claimed_on=last_day + timedelta(days=1), electronic=electronic
    )

    assert not judgement.eligible
    assert judgement.deadline == last_day
    assert judgement.days_over == 1


# --- Leap days ---------------------------------------------------------------


def test_1_year_warranty_from_29_february_ends_on_28_february(terms):
    _, deadline = policy.window_deadline(terms, claim_type=WARRANTY, electronic=True, received_on=date(2024, 2, 29))

    assert deadline == date(2025, 2, 28)


def test_2_year_warranty_from_29_february_ends_on_28_february(terms):
    _, deadline = policy.window_deadline(terms, claim_type=WARRANTY, electronic=False, received_on=date(2024, 2, 29))

    assert deadline == date(2026, 2, 28)


def test_2_year_warranty_from_29_february_is_out_on_1_march(terms):
    judgement = judge(terms, WARRANTY, received_on=date(2024, 2, 29), claimed_on=date(2026, 3, 1))

    assert not judgement.eligible
    assert judgement.days_over == 1


def test_1_year_warranty_from_28_february_into_a_leap_year_ends_on_28_february(terms):
    """A year from 28 February 2023 is 28 February 2024, not the leap day after it."""
    judgement_on_leap_day = judge(
        terms, WARRANTY, received_on=date(2023, 2, 28), claimed_on=date(2024, 2, 29), electronic=True
    )

    assert judgement_on_leap_day.deadline == date(2024, 2, 28)
    assert not judgement_on_leap_day.eligible


def test_a_no_reason_window_crossing_29_february_counts_the_leap_day(terms):
    # given goods received on 1 February 2024: 45 days later, counting 29 February, is 17 March
    received = date(2024, 2, 1)

    last_day = judge(terms, NO_REASON, received_on=received, claimed_on=date(2024, 3, 17))
    day_after = judge(terms, NO_REASON, received_on=received, claimed_on=date(2024, 3, 18))

    assert last_day.deadline == date(2024, 3, 17)
    assert last_day.eligible
    assert not day_after.eligible


# --- The claim's day is the company's local day ------------------------------


def test_claim_day_is_the_company_local_date_not_the_utc_date(settings):
    # given the company in New York and a claim made at 23:30 local time (04:30 UTC the next day)
    settings.TIME_ZONE = "America/New_York"
    moment = datetime(2024, 3, 17, 23, 30, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert moment.date() == date(2024, 3, 18)

    # when its day is asked for
    day = policy.claim_day(moment)

    # then it is the local day
    assert day == date(2024, 3, 17)


def test_a_claim_at_23_30_local_time_on_the_last_day_is_in(settings, terms):
    # given goods received on 10 March 2024 (DOA window ends 17 March) and a company in New York
    settings.TIME_ZONE = "America/New_York"
    moment = datetime(2024, 3, 17, 23, 30, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)

    # when the claim made at 23:30 local on 17 March (already 18 March in UTC) is judged
    judgement = judge(terms, DOA, received_on=RECEIVED, claimed_on=policy.claim_day(moment))

    # then it is in time
    assert judgement.eligible


def test_a_claim_at_00_30_local_time_the_day_after_the_last_day_is_out(settings, terms):
    settings.TIME_ZONE = "America/New_York"
    moment = datetime(2024, 3, 18, 0, 30, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)

    judgement = judge(terms, DOA, received_on=RECEIVED, claimed_on=policy.claim_day(moment))

    assert judgement.claimed_on == date(2024, 3, 18)
    assert not judgement.eligible
    assert judgement.days_over == 1


# --- What an agent reads ------------------------------------------------------


def test_describe_an_eligible_claim_names_the_window_and_its_end(terms):
    judgement = judge(terms, DOA, received_on=date(2024, 1, 2), claimed_on=date(2024, 1, 5))

    assert (
        judgement.describe()
        == "Eligible: claim made 05 Jan 2024, within the 7-day DOA window ending 09 Jan 2024 (company calendar, Asia/Shanghai)."
    )


def test_describe_an_expired_claim_says_when_the_window_ended_and_how_many_days_before(terms):
    judgement = judge(terms, NO_REASON, received_on=date(2024, 1, 2), claimed_on=date(2024, 3, 1), electronic=True)

    assert judgement.days_over == 29
    assert judgement.describe() == (
        "Expired: the electronic products' 30-day no-reason return window ended on 01 Feb 2024, "
        "29 days before the claim was made (company calendar, Asia/Shanghai)."
    )


def test_describe_an_expired_claim_one_day_over_says_day_not_days(terms):
    judgement = judge(terms, DOA, received_on=date(2024, 1, 2), claimed_on=date(2024, 1, 10))

    assert judgement.describe() == (
        "Expired: the 7-day DOA window ended on 09 Jan 2024, 1 day before the claim was made "
        "(company calendar, Asia/Shanghai)."
    )


def test_days_over_is_zero_for_a_claim_in_time(terms):
    judgement = judge(terms, WARRANTY, received_on=date(2024, 1, 2), claimed_on=date(2024, 1, 3))

    assert judgement.days_over == 0
