"""A task is treated like a request for its database connections (backoffice/celery.py).

Celery's Django fixup would close them around every task; with ``CELERY_DB_REUSE_MAX`` set it leaves
them to our handlers, which keep a connection younger than ``CONN_MAX_AGE`` after a task that succeeded
and close everything after one that did not. ``refunds/tests/test_worker.py`` checks the same in a real
worker.
"""

import time
from types import SimpleNamespace

import pytest
from celery import states
from django.db import connection

from backoffice.celery import _connections_after_a_task, _connections_before_a_task, app

pytestmark = pytest.mark.django_db(transaction=True)


def task(*, eager=False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def open_connection(*, expires_in: float):
    connection.ensure_connection()
    connection.close_at = time.monotonic() + expires_in
    return connection.connection


def test_the_fixup_closes_connections_only_every_so_many_tasks():
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 100


def test_a_connection_younger_than_its_max_age_is_kept_across_tasks_that_succeed():
    kept = open_connection(expires_in=60)

    _connections_before_a_task(task=task())
    _connections_after_a_task(task=task(), state=states.SUCCESS)

    assert connection.connection is kept


def test_a_connection_past_its_max_age_is_closed_after_a_task():
    open_connection(expires_in=-1)

    _connections_after_a_task(task=task(), state=states.SUCCESS)

    assert connection.connection is None


@pytest.mark.parametrize("state", [states.FAILURE, states.RETRY])
def test_a_task_that_did_not_succeed_leaves_no_connection_open(state):
    # it may have been interrupted in the middle of a query, which no health check can always see
    open_connection(expires_in=60)

    _connections_after_a_task(task=task(), state=state)

    assert connection.connection is None


def test_an_eager_task_leaves_its_callers_connection_alone():
    kept = open_connection(expires_in=-1)

    _connections_before_a_task(task=task(eager=True))
    _connections_after_a_task(task=task(eager=True), state=states.FAILURE)

    assert connection.connection is kept
