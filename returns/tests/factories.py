"""Factories for the returns app: tests build their own data, never the demo's."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from backoffice import roles
from returns.models import Claim, ClaimItem, ClaimType, Order, OrderLine, PolicyVersion, Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Camera cage {n}")
    is_electronic = False


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"SO-{100000 + n}")
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    customer_name = factory.Sequence(lambda n: f"Customer {n}")
    received_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=3))


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = Decimal("49.90")
    currency = "USD"


class ClaimFactory(factory.django.DjangoModelFactory):
    """A claim straight in the database, for reads; services tests use ``claim_create``."""

    class Meta:
        model = Claim

    order = factory.SubFactory(OrderFactory)
    order_number = factory.SelfAttribute("order.number")
    customer_email = factory.SelfAttribute("order.customer_email")
    claim_type = ClaimType.NO_REASON
    description = "Not what I expected."
    policy_version = factory.LazyFunction(lambda: PolicyVersion.objects.latest())
    submitted_at = factory.LazyFunction(timezone.now)


class ClaimItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClaimItem

    claim = factory.SubFactory(ClaimFactory)
    order_line = factory.SubFactory(OrderLineFactory, order=factory.SelfAttribute("..claim.order"))
    quantity = 1


def staff_user(django_user_model, username: str, role: str | None):
    """A staff user in one of the roles' groups (or none)."""
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


ROLES = {
    "cs": roles.CUSTOMER_SERVICE,
    "warehouse": roles.WAREHOUSE,
    "finance": roles.FINANCE,
    "manager": roles.MANAGER,
}
