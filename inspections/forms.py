"""The inspection form: the checklist as Yes / No / Not checked, the outcome, the deduction."""

from django import forms

from inspections import outcomes
from inspections.models import Inspection, Outcome
from returns.models import Claim, ClaimType

YES, NO, NOT_CHECKED = "yes", "no", ""
ANSWERS = [(YES, "Yes"), (NO, "No"), (NOT_CHECKED, "Not checked")]
_AS_BOOL = {YES: True, NO: False, NOT_CHECKED: None}
_AS_ANSWER = {True: YES, False: NO, None: NOT_CHECKED}

# What each item asks, per claim type where the words differ.
QUESTIONS = {
    "is_new_unused": "New condition, no signs of use",
    "no_installation_marks": "No installation marks",
    "original_packaging_sealed": "Sealed in the original packaging",
    "label_present": "Label present",
    "defect_confirmed": "Reported defect confirmed",
    "human_or_physical_damage": "Human or physical damage found",
}
HELP = {
    (ClaimType.DOA, "defect_confirmed"): "The problem the customer reported (wrong item, missing item, "
    "damage or scratch, quality issue) is there.",
    (ClaimType.DOA, "human_or_physical_damage"): "Damage caused after delivery (use, a drop, tampering). "
    "Transit damage the customer reported is the reported problem above.",
    (ClaimType.NO_REASON, "human_or_physical_damage"): "Optional for a no-reason return; "
    "damage found means the goods are not in new condition.",
    (ClaimType.WARRANTY, "defect_confirmed"): "The defect the customer reported is there.",
    (ClaimType.WARRANTY, "human_or_physical_damage"): "The defect was caused by use, a drop or tampering. "
    "The findings are quoted to the customer when the claim is rejected.",
}


class AmountField(forms.DecimalField):
    """A typed number in the digits 0-9 only (``Decimal`` reads "١٢" as 12), within the column's digits."""

    def to_python(self, value):
        if isinstance(value, str) and not value.strip().isascii():
            raise forms.ValidationError("Write the number with the digits 0-9.", code="invalid")
        return super().to_python(value)


class InspectionForm(forms.Form):
    findings = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), label="Findings")
    outcome = forms.ChoiceField(required=False, label="Outcome")
    outcome_change_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        label="Why a different outcome",
        help_text="Needed when the outcome is not the proposed one.",
    )
    # inspections.Inspection.deduction_amount: DecimalField(max_digits=14, decimal_places=3).
    deduction_amount = AmountField(
        required=False, min_value=0, max_digits=14, decimal_places=3, label="Deduction amount"
    )
    deduction_percent = AmountField(
        required=False, min_value=0, max_value=100, max_digits=5, decimal_places=2, label="or deduction percentage"
    )
    deduction_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        label="Deduction reason",
        help_text="Only for a refund with a deduction; the customer reads it.",
    )

    def __init__(self, *args, claim: Claim, inspection: Inspection | None, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        checklist = {}
        for name in outcomes.CONSIDERED[claim.claim_type]:
            checklist[name] = forms.ChoiceField(
                choices=ANSWERS,
                required=False,
                widget=forms.RadioSelect,
                label=QUESTIONS[name],
                help_text=HELP.get((claim.claim_type, name), ""),
            )
        # The checklist first, in the policy's order.
        self.fields = {**checklist, **self.fields}
        self.checklist_names = list(checklist)
        allowed = outcomes.ALLOWED_OUTCOMES[claim.claim_type]
        self.fields["outcome"].choices = [("", "As proposed"), *((value, Outcome(value).label) for value in allowed)]
        self.fields["deduction_amount"].label = f"Deduction amount ({currency})"
        if inspection is not None and not self.is_bound:
            self.initial.update(
                {name: _AS_ANSWER[getattr(inspection, name)] for name in self.checklist_names},
                findings=inspection.findings,
                # An outcome the inspector chose stays chosen; one that follows the proposal follows it.
                outcome=inspection.outcome if inspection.outcome_change_reason else "",
                outcome_change_reason=inspection.outcome_change_reason,
                deduction_amount=inspection.deduction_amount,
                deduction_percent=inspection.deduction_percent,
                deduction_reason=inspection.deduction_reason,
            )

    def checklist_fields(self):
        return [self[name] for name in self.checklist_names]

    def decision_fields(self):
        names = ("outcome", "outcome_change_reason", "deduction_amount", "deduction_percent", "deduction_reason")
        return [self[name] for name in names]

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            **{name: _AS_BOOL[data[name]] for name in self.checklist_names},
            "findings": data["findings"],
            "outcome": data["outcome"],
            "outcome_change_reason": data["outcome_change_reason"],
            "deduction_amount": data["deduction_amount"],
            "deduction_percent": data["deduction_percent"],
            "deduction_reason": data["deduction_reason"],
        }
