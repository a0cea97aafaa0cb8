"""The product catalogue: a product's category (electronic or not) set through ``product_set_category``, by
people and by ``manage.py import_products``; open claims judged by it from then on."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.core.management.base import BaseCommand

from core import actors
from returns import services
from returns.management.commands.import_products import Command as ImportProducts
from returns.models import Claim, ClaimAction, ClaimEvent, ClaimStatus, Product, ProductAction, ProductEvent
from returns.tests.factories import OrderFactory, OrderLineFactory, ProductFactory
from returns.tests.test_services import approvable_claim, days_ago, new_claim

pytestmark = pytest.mark.django_db


def order_of(*products):
    order = OrderFactory(received_on=days_ago(3))
    for product in products:
        OrderLineFactory(order=order, product=product)
    return order


@pytest.fixture
def unknown():
    return ProductFactory(sku="SR-1195", name="NATO handle", is_electronic=None)


def category_events(claim):
    return list(ClaimEvent.objects.filter(claim=claim, action=ClaimAction.CATEGORY_SET))


# --- the service ----------------------------------------------------------------------------


def test_customer_service_sets_an_unknown_category_and_the_open_claim_is_judged_by_it(cs, unknown):
    claim = new_claim(cs, order_of(unknown))
    assert claim.is_electronic is None

    result = services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=True)

    assert Product.objects.get(pk=unknown.pk).is_electronic is True
    assert Claim.objects.get(pk=claim.pk).is_electronic is True
    assert [c.pk for c in result.claims] == [claim.pk] and [p.pk for p in result.products] == [unknown.pk]
    [event] = category_events(claim)
    assert event.actor == cs and event.from_status == event.to_status == ClaimStatus.REQUESTED
    assert event.payload == {
        "products": [{"sku": "SR-1195", "old": None, "new": True}],
        "old_electronic": None,
        "new_electronic": True,
        "reason": "",
    }
    [product_event] = ProductEvent.objects.filter(product=unknown)
    assert product_event.action == ProductAction.CATEGORY_SET
    assert product_event.payload == {
        "sku": "SR-1195",
        "old": None,
        "new": True,
        "reason": "",
        "open_claims_changed": 1,
        "approved_claims": [],
    }


def test_a_closed_claim_keeps_the_category_it_was_decided_with(cs, unknown):
    claim = new_claim(cs, order_of(unknown))
    services.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer withdrew")

    result = services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=False)

    assert result.claims == []
    assert Claim.objects.get(pk=claim.pk).is_electronic is None
    assert category_events(claim) == []


def test_a_claim_already_electronic_through_another_product_writes_no_claim_event(cs, unknown):
    claim = new_claim(cs, order_of(unknown, ProductFactory(is_electronic=True)))
    assert claim.is_electronic is True

    result = services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=False)

    assert result.claims == [] and Claim.objects.get(pk=claim.pk).is_electronic is True
    assert category_events(claim) == []
    assert ProductEvent.objects.get(product=unknown).payload["open_claims_changed"] == 0


def test_a_claim_stays_unknown_while_another_of_its_products_is(cs, unknown):
    other = ProductFactory(is_electronic=None)
    claim = new_claim(cs, order_of(unknown, other))

    services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=False)
    assert Claim.objects.get(pk=claim.pk).is_electronic is None
    services.product_set_category(product_ids=[other.pk], by=cs, electronic=False)

    assert Claim.objects.get(pk=claim.pk).is_electronic is False
    [event] = category_events(claim)
    assert event.payload["products"] == [{"sku": other.sku, "old": None, "new": False}]


def test_the_same_category_again_writes_nothing(cs, unknown):
    claim = new_claim(cs, order_of(unknown))
    services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=True)

    result = services.product_set_category(product_ids=[unknown.pk], by=cs, electronic=True)

    assert result.products == [] and result.claims == [] and result.unchanged == 1
    assert ProductEvent.objects.count() == 1 and len(category_events(claim)) == 1


@pytest.mark.parametrize("who", ["warehouse_user", "finance_user"])
def test_warehouse_and_finance_may_not_set_a_category(request, who, unknown):
    with pytest.raises(PermissionDenied):
        services.product_set_category(product_ids=[unknown.pk], by=request.getfixturevalue(who), electronic=True)
    assert Product.objects.get(pk=unknown.pk).is_electronic is None


def test_the_customer_may_not_set_a_category(unknown):
    with pytest.raises(PermissionDenied):
        services.product_set_category(product_ids=[unknown.pk], by=actors.CUSTOMER, electronic=True)


def test_the_category_cannot_be_set_back_to_unknown(manager, unknown):
    with pytest.raises(ValidationError):
        services.product_set_category(product_ids=[unknown.pk], by=manager, electronic=None)


def test_changing_a_known_category_needs_a_reason(cs):
    product = ProductFactory(is_electronic=False)

    with pytest.raises(ValidationError) as refused:
        services.product_set_category(product_ids=[product.pk], by=cs, electronic=True, reason="  ")

    assert "reason" in refused.value.error_dict
    assert Product.objects.get(pk=product.pk).is_electronic is False and not ProductEvent.objects.exists()


def test_customer_service_changes_a_known_category_while_no_claim_on_it_is_approved(cs):
    product = ProductFactory(is_electronic=False)
    claim = new_claim(cs, order_of(product))

    services.product_set_category(product_ids=[product.pk], by=cs, electronic=True, reason="Has a USB-C port")

    assert Claim.objects.get(pk=claim.pk).is_electronic is True
    [event] = category_events(claim)
    assert event.payload["products"] == [{"sku": product.sku, "old": False, "new": True}]
    assert event.payload["reason"] == "Has a USB-C port"


def approved_claim_on(product, cs):
    claim = approvable_claim(cs, order_of(product))
    return services.claim_approve(claim_id=claim.pk, by=cs)


def test_once_a_claim_is_approved_customer_service_may_not_change_the_category(cs):
    product = ProductFactory(is_electronic=False)
    claim = approved_claim_on(product, cs)

    with pytest.raises(PermissionDenied, match=f"{claim.rma_number}.*only a manager"):
        services.product_set_category(product_ids=[product.pk], by=cs, electronic=True, reason="datasheet")

    assert Product.objects.get(pk=product.pk).is_electronic is False
    assert Claim.objects.get(pk=claim.pk).is_electronic is False


def test_once_a_claim_is_approved_the_system_may_not_change_the_category(cs):
    product = ProductFactory(is_electronic=False)
    approved_claim_on(product, cs)

    with pytest.raises(PermissionDenied, match="the system may not change"):
        services.product_set_category(product_ids=[product.pk], by=actors.SYSTEM, electronic=True, reason="file")


def test_a_manager_changes_the_category_of_a_product_with_an_approved_claim_and_it_is_recorded(cs, manager):
    product = ProductFactory(sku="CAGE-A7", is_electronic=False)
    claim = approved_claim_on(product, cs)

    services.product_set_category(product_ids=[product.pk], by=manager, electronic=True, reason="It has a fan")

    assert Claim.objects.get(pk=claim.pk).is_electronic is True  # approved is still open: judged anew
    [product_event] = ProductEvent.objects.filter(product=product)
    assert product_event.actor == manager
    assert product_event.payload["old"] is False and product_event.payload["new"] is True
    assert product_event.payload["approved_claims"] == [f"{claim.rma_number} / #{claim.pk}"]
    assert product_event.payload["reason"] == "It has a fan"
    [event] = category_events(claim)
    assert event.payload["old_electronic"] is False and event.payload["new_electronic"] is True


def test_the_refusal_for_the_admin_matches_the_service(cs, warehouse_user, manager, unknown):
    known = ProductFactory(is_electronic=False)
    approved_claim_on(known, cs)

    assert services.product_category_refusal(product=unknown, by=cs) == ""
    assert "permission" in services.product_category_refusal(product=unknown, by=warehouse_user)
    assert "only a manager" in services.product_category_refusal(product=known, by=cs)
    assert services.product_category_refusal(product=known, by=manager) == ""


# --- manage.py import_products ------------------------------------------------------------------------


def run_import(tmp_path, text, name="catalogue.csv", bom=True):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    out = io.StringIO()
    call_command("import_products", str(path), stdout=out)
    return out.getvalue()


CATALOGUE = (
    "SKU,Name,Electronic\n"
    "SR-1195,NATO handle,no\n"  # line 2: known, unknown category → set
    "MON-7,Field monitor 7″,yes\n"  # line 3: new SKU with a name → created, electronic
    "GHOST-1,,yes\n"  # line 4: new SKU without a name → bad row
    "CAGE-A7,,maybe\n"  # line 5: bad value → bad row
    "\n"  # line 6: blank, still counted
    "CAGE-A7,,\n"  # line 7: blank category → changes nothing
    "SR-1195,,yes\n"  # line 8: contradicts line 2 → bad row
)


def test_import_products_sets_categories_creates_named_skus_and_reports_bad_rows(tmp_path, cs, unknown):
    cage = ProductFactory(sku="CAGE-A7", is_electronic=True)
    claim = new_claim(cs, order_of(unknown))

    out = run_import(tmp_path, CATALOGUE)

    assert Product.objects.get(sku="SR-1195").is_electronic is False
    monitor = Product.objects.get(sku="MON-7")
    assert monitor.name == "Field monitor 7″" and monitor.is_electronic is True
    assert Product.objects.get(pk=cage.pk).is_electronic is True
    assert not Product.objects.filter(sku="GHOST-1").exists()
    assert Claim.objects.get(pk=claim.pk).is_electronic is False
    [event] = category_events(claim)
    assert event.actor_kind == actors.ActorKind.SYSTEM
    assert event.payload["reason"] == "product catalogue catalogue.csv, line 2"
    assert ProductEvent.objects.get(product=monitor).payload["reason"] == "product catalogue catalogue.csv, line 3"
    assert "6 rows read." in out
    assert "Products: 1 created, 1 category set, 1 unchanged." in out
    assert "Open claims whose category changed: 1." in out
    assert "Rejected: 3 rows." in out
    assert "line 4: SKU GHOST-1 is not a product we know, and the row gives no name to create it with." in out
    assert "line 5: electronic is “maybe”: write yes or no (or leave it blank when not known)." in out
    assert "line 8: SKU SR-1195 is not electronic on line 2, but electronic here." in out


def test_import_products_again_changes_nothing(tmp_path, cs, unknown):
    ProductFactory(sku="CAGE-A7", is_electronic=True)
    new_claim(cs, order_of(unknown))
    run_import(tmp_path, CATALOGUE)
    before = (
        list(Product.objects.order_by("pk").values_list("sku", "name", "is_electronic")),
        ProductEvent.objects.count(),
        ClaimEvent.objects.count(),
    )

    out = run_import(tmp_path, CATALOGUE)

    after = (
        list(Product.objects.order_by("pk").values_list("sku", "name", "is_electronic")),
        ProductEvent.objects.count(),
        ClaimEvent.objects.count(),
    )
    assert after == before
    assert "Products: 0 created, 0 category set, 3 unchanged." in out


def test_import_products_leaves_a_known_name_alone_and_reads_a_file_without_bom_or_name_column(tmp_path):
    product = ProductFactory(sku="SR-1195", name="NATO handle (store)", is_electronic=None)

    out = run_import(tmp_path, "sku;electronic\nSR-1195;TRUE\n", bom=False)

    product.refresh_from_db()
    assert product.is_electronic is True and product.name == "NATO handle (store)"
    assert "1 category set" in out


def test_import_products_refuses_a_change_once_a_claim_is_approved_and_loads_the_rest(tmp_path, cs):
    product = ProductFactory(sku="CAGE-A7", is_electronic=False)
    approved_claim_on(product, cs)

    out = run_import(tmp_path, "sku,name,electronic\nCAGE-A7,,yes\nMON-7,Monitor,yes\n")

    assert Product.objects.get(pk=product.pk).is_electronic is False
    assert Product.objects.get(sku="MON-7").is_electronic is True
    assert "line 2: Claims on these products were approved" in out and "a manager decides" in out


def test_import_products_fails_whole_without_its_required_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("sku,name\nSR-1195,Handle\n")

    with pytest.raises(CommandError, match="lacks the required column electronic"):
        call_command("import_products", str(path))


def test_import_products_fails_whole_on_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,name,electronic\nSR-1,Poignée,no\n".encode("latin-1"))

    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_products", str(path))


def test_import_products_help_says_the_format():
    command: BaseCommand = ImportProducts()

    text = " ".join(command.create_parser("manage.py", "import_products").format_help().split())

    assert "sku, electronic and optionally name" in text
    assert "yes/no/true/false/1/0, or blank when not known" in text
    assert "UTF-8 with or without a BOM" in text
