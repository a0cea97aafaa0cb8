"""What keeps the busiest pages light (issue 16's load test): each page's work bounded, not its time."""

import gc
import inspect
import re
import runpy
from pathlib import Path

import pytest
from django.conf import settings
from unfold.admin import ModelAdmin
from unfold.templatetags import unfold_list

from backoffice import unfold_lists
from inspections.tests.conftest import requested_claim
from returns.tests.factories import ROLES, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


def test_list_headers_are_built_once_per_page(client, cs, monkeypatch):
    # The day unfold stops rebuilding the headers for each row, this fails: remove backoffice/unfold_lists.py.
    assert "list(result_headers(cl))" in inspect.getsource(unfold_list.items_for_result)
    assert unfold_list.result_headers is unfold_lists._result_headers_once
    for _ in range(3):
        requested_claim(cs)
    built = []
    original = unfold_lists._unfold_result_headers
    monkeypatch.setattr(unfold_lists, "_unfold_result_headers", lambda cl: built.append(cl) or original(cl))
    client.force_login(cs)

    html = client.get("/admin/returns/claim/").content.decode()

    assert len(built) == 1
    # every row's cells still carry their column's label (unfold shows it on phones)
    assert len(re.findall(r'data-label="order number"', html)) == 3


def test_modeladmin_answers_the_list_sections_its_template_asks_for():
    assert ModelAdmin.list_sections == ()


def test_the_claim_pages_tables_are_tables_without_form_widgets(client, cs):
    claim = requested_claim(cs)
    item = claim.items.get()
    client.force_login(cs)

    html = client.get(f"/admin/returns/claim/{claim.pk}/change/").content.decode()

    start = html.index('id="items-group"')
    table = html[start : html.index("</table>", start)]
    assert item.order_line.product.sku in table and "<th" in table
    # the page is never posted: no management form, no hidden ids
    assert "TOTAL_FORMS" not in html
    assert 'type="hidden" name="items-0-id"' not in html


def test_gunicorns_workers_leave_the_preloaded_app_out_of_garbage_collection(monkeypatch):
    config = runpy.run_path(str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"))
    threshold = gc.get_threshold()
    try:
        config["pre_fork"](None, None)
        assert gc.get_freeze_count() > 0
        config["post_fork"](None, None)
        assert gc.get_threshold() == (50_000, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
