"""Private files: every stored file through the file view, by a signed expiring link, to staff with its permission.

Most tests run on the embedded run's disk storage (the case the issue found open); one on S3 (moto).
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from backoffice import exports
from backoffice.files import file_link
from backoffice.models import StoredExport
from returns.models import OutboundEmail
from returns.tests.factories import ROLES, ClaimFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def disk_storage(settings, tmp_path):
    """The embedded run's storage: files under MEDIA_ROOT, nothing served from there."""
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "backoffice.files.PrivateFileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


@pytest.fixture
def manager(django_user_model):
    user = staff_user(django_user_model, "boss", ROLES["manager"])
    user.email = "boss@staff.example.com"
    user.save()
    return user


def large_export(client, manager, settings) -> tuple[str, str]:
    """A claim export too large to stream: stored, its link emailed. The stored name and the link."""
    settings.EXPORT_STREAM_MAX_ROWS = 1
    ClaimFactory()
    ClaimFactory()
    client.force_login(manager)
    client.get("/admin/returns/claim/export/csv/")
    stored = StoredExport.objects.get(user=manager).file.name
    email = OutboundEmail.objects.get(template="export_ready")
    [link] = re.findall(r"http://\S+/admin/files/\S+/", email.body_text)
    return stored, link


def test_export_link_serves_the_file_to_its_owner(client, manager, settings, disk_storage):
    stored, link = large_export(client, manager, settings)

    response = client.get(link)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.startswith("Claim ID,")
    assert (disk_storage / stored).exists()


def test_guessed_media_path_of_an_export_is_not_served(client, manager, settings, disk_storage):
    stored, _ = large_export(client, manager, settings)

    response = client.get(f"/media/{stored}")

    assert response.status_code == 404
    assert b"Claim ID" not in response.content


def test_another_staff_user_is_refused_the_export_link(client, manager, settings, disk_storage, django_user_model):
    _, link = large_export(client, manager, settings)
    for username, role in [("other-boss", "manager"), ("agent", "cs"), ("money", "finance")]:
        client.force_login(staff_user(django_user_model, username, ROLES[role]))

        response = client.get(link)

        assert response.status_code == 403, username
        assert b"permission" in response.content


def test_export_link_needs_a_login(client, manager, settings, disk_storage):
    _, link = large_export(client, manager, settings)
    client.logout()

    response = client.get(link)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_expired_export_link_is_refused(client, manager, settings, disk_storage):
    # shorter than the idle sign-out (SESSION_IDLE_SECONDS), so the login outlives the link
    settings.EXPORT_LINK_EXPIRE_SECONDS = 60
    _, link = large_export(client, manager, settings)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = client.get(link)

    assert response.status_code == 410
    assert b"expired" in response.content


def test_tampered_link_is_refused(client, manager, settings, disk_storage):
    _, link = large_export(client, manager, settings)
    token = link.rstrip("/").rpartition("/")[2]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    assert client.get(f"/admin/files/{forged}/").status_code == 404


def test_stored_file_link_needs_its_folders_permission(client, disk_storage, django_user_model):
    name = default_storage.save("evidence/1/photo.png", ContentFile(b"\x89PNG fake"))
    link = default_storage.url(name)
    agent = staff_user(django_user_model, "agent", ROLES["cs"])
    nobody = staff_user(django_user_model, "nobody", None)

    client.force_login(agent)
    shown = client.get(link)
    client.force_login(nobody)
    refused = client.get(link)

    assert link.startswith("/admin/files/")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert b"".join(shown.streaming_content) == b"\x89PNG fake"
    assert refused.status_code == 403


def test_a_file_outside_the_known_folders_is_refused(client, disk_storage, django_user_model):
    name = default_storage.save("elsewhere/secret.txt", ContentFile(b"secret"))
    client.force_login(staff_user(django_user_model, "boss", ROLES["manager"]))

    assert client.get(file_link(name)).status_code == 403
    assert client.get(file_link("../settings.py")).status_code == 403


def test_cleanup_deletes_old_exports_and_keeps_fresh_ones(client, manager, settings, disk_storage):
    settings.EXPORT_LINK_EXPIRE_SECONDS = 3600
    old_name, _ = large_export(client, manager, settings)
    old = StoredExport.objects.get()
    StoredExport.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh_name = default_storage.save(f"exports/{manager.pk}/claims-fresh.csv", ContentFile(b"Claim ID\n"))
    fresh = StoredExport.objects.create(user=manager, file=fresh_name, expires_at=timezone.now() + timedelta(hours=1))

    deleted = exports.exports_delete_expired()

    assert deleted == 1
    assert list(StoredExport.objects.all()) == [fresh]
    assert not (disk_storage / old_name).exists()
    assert (disk_storage / fresh_name).exists()


def test_cleanup_task_deletes_exports_on_s3(client, manager, settings, s3_objects):
    from backoffice.tasks import delete_expired_exports

    stored, link = large_export(client, manager, settings)
    assert stored in s3_objects()
    StoredExport.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert delete_expired_exports.delay().get() == 1

    assert stored not in s3_objects()
    assert not StoredExport.objects.exists()
    assert client.get(link).status_code == 404


def test_a_failed_export_is_recorded_with_its_reason_and_the_manager_emailed(manager, django_user_model):
    from backoffice.tasks import export_to_storage

    ClaimFactory()
    # the manager lost the role between the click and the task
    manager.groups.clear()

    result = export_to_storage.apply(
        kwargs={"model_label": "returns.claim", "fmt": "csv", "query_string": "", "user_id": manager.pk}
    )

    assert result.failed()
    row = StoredExport.objects.get(user=manager)
    assert (row.file.name, row.error) == ("", "PermissionError: boss may not export")
    email = OutboundEmail.objects.get(template="export_failed")
    assert email.to == "boss@staff.example.com"
    assert "could not be made" in email.body_text and "PermissionError: boss may not export" in email.body_text
    StoredExport.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert exports.exports_delete_expired() == 1
