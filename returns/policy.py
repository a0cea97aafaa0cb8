"""The after-sales policy as a pure function.

``judge()`` takes a claim's type, whether the goods are electronic, the day the
customer received them and the day the claim was made, and answers with a
``Judgement``: eligible or not, the deadline, who pays return shipping, what
evidence is required and which remedy follows a passed inspection. The numbers
come from a ``PolicyTerms`` (built from the ``PolicyVersion`` in force when the
claim was made), never from constants in here.

How the windows are counted (decided here, the policy text is silent):
- Day 0 is the day the customer received the goods, in the company's time
  zone (settings.TIME_ZONE); "within 7 days" means the claim is made on or
  before received + 7 days. The last day is in, the next day is out.
- Year windows are calendar months (2 years = 24 months): received on
  29 February, the window ends on 28 February (or 29 in a leap year).
- The claim's day is the company-local date of the moment it was made, so a
  claim made at 23:30 on the last day is in, whatever UTC says.
"""

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from returns.instants import calendar_words
from returns.models import ClaimType, PolicyVersion


@dataclass(frozen=True)
class PolicyTerms:
    doa_days: int
    no_reason_days: int
    no_reason_electronic_days: int
    warranty_months: int
    warranty_electronic_months: int
    no_reason_return_shipping_reimbursed: bool

    @classmethod
    def from_version(cls, version: PolicyVersion) -> "PolicyTerms":
        return cls(
            doa_days=version.doa_days,
            no_reason_days=version.no_reason_days,
            no_reason_electronic_days=version.no_reason_electronic_days,
            warranty_months=version.warranty_months,
            warranty_electronic_months=version.warranty_electronic_months,
            no_reason_return_shipping_reimbursed=version.no_reason_return_shipping_reimbursed,
        )


REMEDY_FULL_REFUND = "full refund"
REMEDY_REPLACEMENT = "part or product replaced"


@dataclass(frozen=True)
class Judgement:
    eligible: bool
    window: str  # "7-day DOA window", in the policy's words
    deadline: date  # last day a claim may be made
    claimed_on: date
    remedy: str  # what a passed inspection gives
    return_shipping_reimbursed: bool  # when the inspection passes
    # Every claim type: "the picture of the entire package/box is also required".
    whole_package_photo_required: bool = True

    @property
    def days_over(self) -> int:
        """Days between the deadline and a late claim (0 when in time)."""
        return max((self.claimed_on - self.deadline).days, 0)

    def describe(self) -> str:
        if self.eligible:
            return (
                f"Eligible: claim made {self.claimed_on:%d %b %Y}, "
                f"within the {self.window} ending {self.deadline:%d %b %Y} ({calendar_words()})."
            )
        return (
            f"Expired: the {self.window} ended on {self.deadline:%d %b %Y}, "
            f"{self.days_over} day{'s' if self.days_over != 1 else ''} before the claim was made ({calendar_words()})."
        )


def claim_day(moment: datetime) -> date:
    """The company-local calendar day of a moment (see the module docstring)."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def window_deadline(terms: PolicyTerms, *, claim_type: str, electronic: bool, received_on: date) -> tuple[str, date]:
    """The window's name in the policy's words and its last day."""
    if claim_type == ClaimType.DOA:
        return f"{terms.doa_days}-day DOA window", received_on + relativedelta(days=terms.doa_days)
    if claim_type == ClaimType.NO_REASON:
        days = terms.no_reason_electronic_days if electronic else terms.no_reason_days
        kind = "electronic products' " if electronic else ""
        return f"{kind}{days}-day no-reason return window", received_on + relativedelta(days=days)
    if claim_type == ClaimType.WARRANTY:
        months = terms.warranty_electronic_months if electronic else terms.warranty_months
        kind = "electronic products' " if electronic else ""
        span = f"{months // 12}-year" if months % 12 == 0 else f"{months}-month"
        return f"{kind}{span} warranty", received_on + relativedelta(months=months)
    raise ValueError(f"unknown claim type {claim_type!r}")


def shipping_reimbursed(claim_type: str, *, no_reason_return_shipping_reimbursed: bool) -> bool:
    """Whether a passed return's shipping is reimbursed: the one place the shipping remedy is decided.

    DOA: "You will get the full refund and the return shipping cost reimbursement". Warranty: "the
    return shipping is on your charge". No-reason: the text only puts it on the customer when the
    inspection fails; the policy version says what happens when it passes.
    """
    if claim_type == ClaimType.DOA:
        return True
    if claim_type == ClaimType.NO_REASON:
        return no_reason_return_shipping_reimbursed
    return False


def return_shipping_reimbursed(terms: PolicyTerms, claim_type: str) -> bool:
    return shipping_reimbursed(
        claim_type, no_reason_return_shipping_reimbursed=terms.no_reason_return_shipping_reimbursed
    )


def judge(terms: PolicyTerms, *, claim_type: str, electronic: bool, received_on: date, claimed_on: date) -> Judgement:
    window, deadline = window_deadline(terms, claim_type=claim_type, electronic=electronic, received_on=received_on)
    remedy = REMEDY_REPLACEMENT if claim_type == ClaimType.WARRANTY else REMEDY_FULL_REFUND
    return Judgement(
        eligible=claimed_on <= deadline,
        window=window,
        deadline=deadline,
        claimed_on=claimed_on,
        remedy=remedy,
        return_shipping_reimbursed=return_shipping_reimbursed(terms, claim_type),
    )
