"""Every staff page is on the theme: django-unfold's layout, no page left in Django's stock admin look."""

import pytest
from django.urls import reverse

from backoffice.tests.test_browser_history import a_claim_with_a_history
from inbox.models import InboundMessage
from refunds.tests.conftest import finance_user
from returns.tests.factories import ROLES, staff_user
from shipments.models import UnmatchedParcel, UnmatchedReason

pytestmark = pytest.mark.django_db(transaction=True)

# Django's stock admin stylesheet, its aligned forms, breadcrumbs and grey submit buttons: none of it on any page.
OLD_LOOK = (
    "admin/css/base.css",
    'class="module aligned',
    'class="breadcrumbs"',
    '<input type="submit" class="default"',
)


@pytest.fixture
def lifecycle(django_user_model):
    cs = staff_user(django_user_model, "agent", ROLES["cs"])
    warehouse = staff_user(django_user_model, "picker", ROLES["warehouse"])
    finance = finance_user(django_user_model, "payer")
    manager = staff_user(django_user_model, "boss", ROLES["manager"])
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")
    claim, refund = a_claim_with_a_history(cs, warehouse, finance)
    unmatched = UnmatchedParcel.objects.create(reason=UnmatchedReason.NO_RMA, received_by=warehouse)
    message = InboundMessage.objects.create(
        subject="Hello", arrived_at=claim.submitted_at, sender_email="x@example.com"
    )
    return {
        "users": {"cs": cs, "warehouse": warehouse, "finance": finance, "manager": manager, "admin": admin},
        "claim": claim,
        "refund": refund,
        "unmatched": unmatched,
        "message": message,
    }


def pages(data) -> list[str]:
    claim, refund = data["claim"], data["refund"]
    item = claim.items.get()
    return [
        reverse("admin:index"),
        reverse("admin:returns_claim_changelist"),
        reverse("admin:returns_claim_change", args=[claim.pk]),
        reverse("admin:returns_claim_add"),
        f"{reverse('admin:returns_claim_add')}?order={claim.order.number}",
        f"{reverse('admin:returns_claim_add')}?order=NO-SUCH-ORDER",
        reverse("admin:returns_claim_submitted_at", args=[claim.pk]),
        reverse("admin:returns_order_change", args=[claim.order_id]),
        reverse("admin:returns_order_received_date", args=[claim.order_id]),
        reverse("admin:returns_product_changelist"),
        reverse("admin:shipments_returnparcel_changelist"),
        reverse("admin:shipments_returnparcel_receive"),
        reverse("admin:shipments_unmatchedparcel_changelist"),
        reverse("admin:shipments_unmatchedparcel_change", args=[data["unmatched"].pk]),
        reverse("admin:shipments_unmatchedparcel_attach", args=[data["unmatched"].pk]),
        reverse("admin:inspections_inspection_changelist"),
        reverse("admin:inspections_queue"),
        reverse("admin:inspections_inspection_item", args=[item.pk]),
        reverse("admin:refunds_refund_changelist"),
        reverse("admin:refunds_refund_change", args=[refund.pk]),
        reverse("admin:warranty_replacement_changelist"),
        reverse("admin:inbox_unsortedmessage_changelist"),
        reverse("admin:inbox_inboundmessage_change", args=[data["message"].pk]),
        reverse("admin:inbox_message_turn", args=[data["message"].pk]),
        reverse("dashboard"),
        reverse("sla-report"),
        reverse("attention"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_group_changelist"),
    ]


@pytest.mark.parametrize("role", ["cs", "warehouse", "finance", "manager", "admin"])
def test_every_staff_page_a_role_may_open_is_on_the_theme(client, lifecycle, role):
    client.force_login(lifecycle["users"][role])
    opened = 0
    for url in pages(lifecycle):
        response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        if response.status_code != 200:
            continue
        opened += 1
        html = response.content.decode()
        assert "unfold/css/styles.css" in html and "backoffice/console.css" in html, url
        assert 'id="nav-sidebar-apps"' in html, url  # the role's sidebar
        for old in OLD_LOOK:
            assert old not in html, (url, old)
    assert opened >= 10, opened


def test_an_unknown_order_tells_customer_service_what_to_do_in_words(client, lifecycle):
    client.force_login(lifecycle["users"]["cs"])

    html = client.get(reverse("admin:returns_claim_add"), {"order": "SO-404"}).content.decode()

    assert "No order SO-404 in the back-office." in html
    assert "ask a manager to load it" in html and "manage.py" not in html


def test_the_site_has_its_own_name_colour_and_favicon(client, lifecycle, settings):
    client.force_login(lifecycle["users"]["cs"])

    html = client.get(reverse("admin:index")).content.decode()

    assert "<title>" in html and settings.ADMIN_SITE_NAME in html
    assert 'rel="icon"' in html and "backoffice/favicon.svg" in html
    assert "--color-primary-600: rgb(31, 78, 140)" in html  # settings.ADMIN_COLOR, the brand's #1f4e8c
