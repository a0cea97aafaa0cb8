"""Warranty test data: users holding exactly the permissions they act with (given directly, so the
tests do not depend on backoffice.roles), and a warranty claim taken to *inspected* through the
claim services, as the warehouse would.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import timezone

from returns import services as claim_services
from returns.models import Claim, ClaimType, Evidence, EvidenceKind
from returns.tests.factories import ROLES, OrderFactory, OrderLineFactory, ProductFactory, staff_user

VIEW = ["warranty.view_replacement", "warranty.view_replacementevent", "returns.view_claim"]


def user_with(django_user_model, username: str, *perms: str):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    wanted = Q()
    for dotted in perms:
        app_label, codename = dotted.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(wanted))
    assert len(permissions) == len(set(perms)), f"unknown permission among {perms}"
    user.user_permissions.set(permissions)
    return user


@pytest.fixture
def agent(django_user_model):
    """Customer service: creates and approves claims, approves replacements."""
    return user_with(
        django_user_model,
        "agent",
        "returns.add_claim",
        "returns.triage_claim",
        "warranty.approve_replacement",
        *VIEW,
    )


@pytest.fixture
def receiver(django_user_model):
    return user_with(django_user_model, "receiver", "shipments.receive_parcel")


@pytest.fixture
def inspector(django_user_model):
    """The warehouse at the inspection bench: completes inspections and proposes replacements."""
    return user_with(django_user_model, "inspector", "inspections.complete_inspection", "warranty.add_replacement")


@pytest.fixture
def shipper(django_user_model):
    """The warehouse at the dispatch desk: ships our parcels."""
    return user_with(django_user_model, "shipper", "shipments.change_outboundparcel", *VIEW)


@pytest.fixture
def finance_user(django_user_model):
    """Finance as the roles define it: reads claims, acts on none of this."""
    return staff_user(django_user_model, "payer", ROLES["finance"])


@pytest.fixture
def viewer(django_user_model):
    return user_with(django_user_model, "viewer", *VIEW)


def add_whole_package_photo(claim: Claim) -> Evidence:
    """A stored file, straight in the table: uploads have their own tests."""
    return Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"not really a jpeg", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=17,
        original_name="box.jpg",
        shows_whole_package=True,
    )


@pytest.fixture
def warranty_claim(agent, receiver, inspector):
    """``make(...)``: a warranty claim, approved, its parcel received and, unless ``inspected=False``,
    inspected. ``lines`` gives each line's (serial, electronic); each item names its line's serial,
    or every item names ``serial`` when given."""

    def make(*, lines=(("CAGE-1001", False),), received_days_ago=90, serial=None, inspected=True) -> Claim:
        order = OrderFactory(received_on=timezone.localdate() - timedelta(days=received_days_ago))
        order_lines = [
            OrderLineFactory(order=order, product=ProductFactory(is_electronic=electronic), serial_numbers=[sn])
            for sn, electronic in lines
        ]
        claim = claim_services.claim_create(
            order=order,
            claim_type=ClaimType.WARRANTY,
            description="The quick-release clamp no longer locks.",
            order_line_ids=[line.pk for line in order_lines],
            by=agent,
            serial_number=lines[0][0] if serial is None else serial,
        )
        if serial is None:
            # claim_create takes one serial for the claim; each item names its own line's here.
            for line in order_lines:
                claim.items.filter(order_line=line).update(serial_number=line.serial_numbers[0])
        add_whole_package_photo(claim)
        claim_services.claim_approve(claim_id=claim.pk, by=agent)
        claim_services.claim_record_receipt(claim_id=claim.pk, by=receiver, details={})
        if inspected:
            claim_services.claim_mark_inspected(
                claim_id=claim.pk, by=inspector, outcome="Part or product replaced", details={}
            )
        return Claim.objects.get(pk=claim.pk)

    return make
