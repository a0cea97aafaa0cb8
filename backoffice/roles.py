"""The staff roles as groups, with exactly the permissions each needs.

``sync_roles()`` runs after every migrate (see ``apps.py``) and from the
``setup_roles`` command; it is idempotent and puts each group's permissions
back to this table.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

CUSTOMER_SERVICE = "Customer service"
WAREHOUSE = "Warehouse"
FINANCE = "Finance"
MANAGER = "Manager"

_READ_CLAIMS = [
    "returns.view_claim",
    "returns.view_claimitem",
    "returns.view_claimevent",
    "returns.view_orderevent",
    "returns.view_evidence",
    "returns.view_order",
    "returns.view_orderevent",
    "returns.view_orderline",
    "returns.view_product",
    # who set a product's category, and why
    "returns.view_productevent",
    "returns.view_outboundemail",
    "returns.view_policyversion",
    "shipments.view_returnparcel",
    "shipments.view_unmatchedparcel",
    "shipments.view_parcelphoto",
    "shipments.view_outboundparcel",
    "inspections.view_inspection",
    "inspections.view_inspectionphoto",
    "warranty.view_replacement",
    "warranty.view_replacementevent",
    "refunds.view_refund",
    # the support mailbox: the claim page shows the conversation
    "inbox.view_inboundmessage",
    "inbox.view_unsortedmessage",
    "inbox.view_inboundattachment",
]
_TRIAGE = [
    # the store's webhooks: a failed one, or a received date the carrier gave after an approval
    "stores.view_webhookdelivery",
    "returns.add_claim",
    "returns.triage_claim",
    "returns.add_evidence",
    # to record the day the customer received the goods (returns.services.order_set_received_on),
    # while no claim of the order is approved
    "returns.change_order",
    # to set a claimed product's unknown category from the claim page (returns.services.product_set_category),
    # and change a known one while none of its claims is approved; after that a manager (returns.change_product)
    "returns.set_product_category",
    # the return parcel's tracking, from the customer's email
    "shipments.add_returnparcel",
    "shipments.attach_unmatchedparcel",
    "warranty.approve_replacement",
    # turn the support mailbox's unsorted messages into claims, or attach them to one
    "inbox.sort_inboundmessage",
]
_WAREHOUSE = [
    "shipments.receive_parcel",
    "shipments.add_unmatchedparcel",
    "shipments.add_parcelphoto",
    "shipments.change_outboundparcel",
    "inspections.add_inspection",
    "inspections.change_inspection",
    "inspections.complete_inspection",
    "inspections.add_inspectionphoto",
    "warranty.add_replacement",
]

_FINANCE = [
    "refunds.view_refundline",
    "refunds.view_refundevent",
    "refunds.approve_refund",
    "refunds.adjust_refund",
]

ROLE_PERMISSIONS = {
    CUSTOMER_SERVICE: _READ_CLAIMS + _TRIAGE,
    WAREHOUSE: _READ_CLAIMS + _WAREHOUSE,
    FINANCE: _READ_CLAIMS + _FINANCE,
    MANAGER: _READ_CLAIMS
    + _TRIAGE
    + [
        "returns.override_claim_window",
        # once a claim is approved, the dates that decided its window move only by a manager
        "returns.change_received_date_after_approval",
        "returns.change_claim_time_after_approval",
        "returns.add_policyversion",
        "returns.change_policyversion",
        "returns.add_product",
        "returns.change_product",
        "returns.view_closureday",
        "returns.add_closureday",
        "returns.change_closureday",
        "returns.delete_closureday",
        # who changed the calendar (the closure days' history)
        "returns.view_closuredayevent",
        "refunds.view_refundline",
        "refunds.view_refundevent",
        # failed logins, and unlocking a locked one (accounts/admin.py)
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
    ],
}


def sync_roles() -> None:
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Q()
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(wanted))
        missing = set(codenames) - {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
        if missing:
            raise LookupError(f"permissions not found for {name}: {sorted(missing)}")
        group.permissions.set(permissions)
