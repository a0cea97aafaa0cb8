import pytest

from returns.tests.factories import ROLES, staff_user


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


@pytest.fixture
def warehouse_user(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


@pytest.fixture
def finance_user(django_user_model):
    return staff_user(django_user_model, "payer", ROLES["finance"])
