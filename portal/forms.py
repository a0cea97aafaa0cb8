"""The customer's forms: they shape input and check files with the admin's own upload checks
(``returns.uploads``) before anything is stored; every rule about claims lives in ``returns``' services."""

import uuid

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import selectors
from returns import uploads
from returns.models import ClaimType, DoaReason

ACCEPT_PHOTOS = "image/jpeg,image/png,image/webp,image/heic,.heic"
ACCEPT_EVIDENCE = ACCEPT_PHOTOS + ",video/mp4,video/quicktime"


class LookupForm(forms.Form):
    order_number = forms.CharField(
        label=gettext_lazy("Order number"),
        max_length=64,
        help_text=gettext_lazy("As in your order confirmation, for example SO-100123."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    email = forms.EmailField(
        label=gettext_lazy("Email address"),
        help_text=gettext_lazy("The address you placed the order with."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class StatedDayForm(forms.Form):
    """The order has no received date: the customer says the day, to see the windows counted from it."""

    received = forms.DateField(
        label=gettext_lazy("The day the parcel reached you"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_received(self):
        day = self.cleaned_data["received"]
        if day > selectors.today():
            raise forms.ValidationError(_("This day is in the future."))
        return day


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FilesField(forms.FileField):
    """Several files from one input; each checked by content as the admin checks it."""

    def __init__(self, *args, accept=ACCEPT_EVIDENCE, multiple=True, **kwargs):
        widget = MultipleFileInput if multiple else forms.FileInput
        kwargs.setdefault("widget", widget(attrs={"accept": accept}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def to_python(self, data):
        return data

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        refused = []
        for upload in files:
            try:
                uploads.check_evidence(upload)
            except uploads.RejectedUpload as refusal:
                refused.append(str(refusal))
            finally:
                upload.seek(0)
        if refused:
            raise forms.ValidationError(
                [*refused, _("Nothing was sent yet: change the refused file and send the form again.")]
            )
        return list(files)


class ClaimForm(forms.Form):
    claim_type = forms.ChoiceField(
        label=gettext_lazy("What do you need?"),
        choices=[(value, selectors.TYPE_WORDS[value]) for value in selectors.TYPE_ORDER],
        widget=forms.RadioSelect,
    )
    doa_reason = forms.ChoiceField(
        label=gettext_lazy("What is wrong? (DOA only)"),
        choices=[(value, selectors.DOA_REASON_WORDS[value]) for value in DoaReason.values],
        widget=forms.RadioSelect,
        required=False,
    )
    description = forms.CharField(
        label=gettext_lazy("Describe the issue"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    whole_package_photo = FilesField(
        label=gettext_lazy("Photo of the whole package or box"),
        help_text=gettext_lazy("Required for every request: one picture showing the entire package or box."),
        accept=ACCEPT_PHOTOS,
        multiple=False,
    )
    files = FilesField(
        label=gettext_lazy("More photos or a video of the issue"),
    )
    received_on = forms.DateField(
        label=gettext_lazy("The day the parcel reached you"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    proof = FilesField(
        label=gettext_lazy("Proof of that day"),
        help_text=gettext_lazy("A photo or screenshot of the carrier's delivery message."),
        accept=ACCEPT_PHOTOS,
        multiple=False,
    )
    submission_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, lines, order, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("submission_key", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = _(
            "JPEG, PNG, WebP or HEIC photos, MP4 or MOV videos; up to %(photo)s MB a photo, %(video)s MB a video."
        ) % {
            "photo": settings.EVIDENCE_MAX_IMAGE_BYTES // (1024 * 1024),
            "video": settings.EVIDENCE_MAX_VIDEO_BYTES // (1024 * 1024),
        }
        self.lines = lines
        self.unit_fields = []
        for view in lines:
            name = f"units_{view.line.pk}"
            self.fields[name] = forms.IntegerField(
                label=view.line.product.name,
                min_value=0,
                max_value=view.free,
                initial=1 if view.free == 1 and len(lines) == 1 else 0,
                required=False,
                disabled=view.free == 0,
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )
            self.unit_fields.append((name, view))
        if order.received_on is not None:
            del self.fields["received_on"], self.fields["proof"]

    def clean_received_on(self):
        day = self.cleaned_data.get("received_on")
        if day and day > selectors.today():
            raise forms.ValidationError(_("This day is in the future."))
        return day

    @property
    def unit_rows(self):
        return [(self[name], view) for name, view in self.unit_fields]

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name, _view in self.unit_fields):
            self.add_error(self.unit_fields[0][0] if self.unit_fields else None, _("Choose at least one unit."))
        if data.get("claim_type") == ClaimType.DOA and not data.get("doa_reason"):
            self.add_error("doa_reason", _("Tell us what is wrong: wrong item, missing item, damage or quality issue."))
        return data

    def units(self) -> dict[int, int]:
        return {view.line.pk: self.cleaned_data.get(name) or 0 for name, view in self.unit_fields}


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=gettext_lazy("Your answer"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    files = FilesField(label=gettext_lazy("Photos or a video"), help_text=gettext_lazy("Optional."))


class FilesForm(forms.Form):
    files = FilesField(label=gettext_lazy("Photos or a video"))
    whole_package = forms.BooleanField(label=gettext_lazy("These show the whole package or box"), required=False)

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise forms.ValidationError(_("Choose at least one photo or video."))
        return files


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why do you cancel? (optional)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
