"""Claims approved through the claim services, staff in their roles, and photos as a phone makes them."""

import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from returns import services
from returns.models import Claim, ClaimType, DoaReason, Evidence, EvidenceKind
from returns.tests.factories import ROLES, OrderFactory, OrderLineFactory, staff_user


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def warehouse_user(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


@pytest.fixture
def other_warehouse_user(django_user_model):
    return staff_user(django_user_model, "packer", ROLES["warehouse"])


@pytest.fixture
def finance_user(django_user_model):
    return staff_user(django_user_model, "payer", ROLES["finance"])


def approved_claim(cs, *, returnless=False) -> Claim:
    """Created, with a whole-package photo, approved by customer service: what the approval email follows."""
    order = OrderFactory(received_on=timezone.localdate() - timedelta(days=3))
    line = OrderLineFactory(order=order)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.DOA,
        doa_reason=DoaReason.MISSING_ITEM if returnless else DoaReason.DAMAGE,
        description="The cage arrived scratched.",
        order_line_ids=[line.pk],
        by=cs,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"not really a jpeg", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=17,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return services.claim_approve(
        claim_id=claim.pk, by=cs, returnless_reason="Nothing to send back." if returnless else ""
    )


def photo(name="parcel.jpg", size=(32, 24), image_format="JPEG") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, "tan").save(out, image_format)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def not_a_photo(name="label.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4 not a photo", content_type="image/jpeg")


def parcel_keys(keys) -> set[str]:
    """The keys under the parcels' prefix in the S3 bucket."""
    return {key for key in keys if key.startswith("parcels/")}
