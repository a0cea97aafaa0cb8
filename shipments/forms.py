"""Forms: they only shape input. Every rule lives in ``shipments.services``."""

from django import forms
from django.utils.translation import gettext_lazy as _

from returns import uploads
from shipments.models import ParcelCondition

PHOTO_ACCEPT = "image/jpeg,image/png,image/webp,image/heic,.heic"


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Several files from one input; each is checked by content in the service."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": PHOTO_ACCEPT}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultiplePhotoField, self).clean(item, initial) for item in files]


class TrackingForm(forms.Form):
    """The customer's page and customer service's entry: what the carrier's receipt says."""

    carrier = forms.CharField(
        label=_("Carrier"), max_length=64, help_text=_("For example DHL, UPS, FedEx, SF Express.")
    )
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=64)
    sent_on = forms.DateField(label=_("Sent on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


class StaffTrackingForm(TrackingForm):
    """Customer service types the tracking in from the customer's email."""

    rma_number = forms.CharField(label="RMA number", max_length=20, widget=forms.TextInput(attrs={"autofocus": True}))

    field_order = ["rma_number", "carrier", "tracking_number", "sent_on"]

    def clean_rma_number(self):
        return self.cleaned_data["rma_number"].strip().upper()


class ReceiveForm(forms.Form):
    """One scan per parcel: the RMA number first (a barcode scanner types it and presses Enter)."""

    code = forms.CharField(
        label="RMA number",
        max_length=64,
        required=False,
        help_text="Scan or type the RMA number on the parcel. Leave empty when the parcel has none.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "size": 24}),
    )
    condition = forms.ChoiceField(choices=ParcelCondition.choices, initial=ParcelCondition.INTACT)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    carrier = forms.CharField(max_length=64, required=False, help_text="From the parcel's label, if readable.")
    tracking_number = forms.CharField(max_length=64, required=False)
    photos = MultiplePhotoField(help_text=f"{uploads.PHOTOS}.")


class AttachForm(forms.Form):
    claim = forms.CharField(
        label="RMA number or claim number",
        max_length=20,
        help_text="RMA-2026-000123, or the claim's number (#42 or 42) when it has no RMA number yet.",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class OutboundShipForm(forms.Form):
    carrier = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"autofocus": True}))
    tracking_number = forms.CharField(max_length=64)
