"""Stored files served only through a view that checks the user's permission, by expiring signed links.

Every file the back-office stores (evidence and thumbnails, parcel and inspection photos,
the mailbox's attachments, free replies' attachments, exports) lives in private storage:
nothing answers ``/media/...``. The storages below make ``FieldFile.url`` a link to
:func:`private_file`, signed with Django's signing and carrying its expiry; the view checks
the signature, the expiry, that the user is logged-in staff and holds the permission for
the file's folder, then streams the file (disk) or redirects to a short-lived presigned URL
(S3). See ``docs/security.md``.
"""

import mimetypes
import time
from pathlib import PurePosixPath

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from storages.backends.s3 import S3Storage

from backoffice.access import is_manager

_SALT = "backoffice.files"
# The permission that opens each top folder (the models' upload_to); "exports" is checked by owner.
FOLDER_PERMISSIONS = {
    "evidence": "returns.view_evidence",
    "outbound": "returns.view_outboundemail",
    "parcels": "shipments.view_parcelphoto",
    "inspections": "inspections.view_inspectionphoto",
    "inbox": "inbox.view_inboundattachment",
}
EXPORTS_FOLDER = "exports"
# Shown in the page (an <img>, a <video>); anything else downloads.
_INLINE_TYPES = ("image/", "video/")


def file_link(name: str, *, max_age: int | None = None, absolute: bool = False) -> str:
    """A link to stored file ``name`` through :func:`private_file`, valid for ``max_age`` seconds."""
    max_age = settings.FILE_LINK_MAX_AGE_SECONDS if max_age is None else max_age
    token = signing.dumps({"n": name, "x": int(time.time()) + max_age}, salt=_SALT, compress=True)
    link = reverse("private-file", args=[token])
    return settings.SITE_URL.rstrip("/") + link if absolute else link


def may_open(user, name: str) -> bool:
    """Whether ``user`` may read stored file ``name``: by its top folder; an export only by its owner."""
    if not (user.is_active and user.is_staff):
        return False
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or ".." in parts:
        return False
    if parts[0] == EXPORTS_FOLDER:
        return parts[1] == str(user.pk) and is_manager(user)
    permission = FOLDER_PERMISSIONS.get(parts[0])
    return permission is not None and user.has_perm(permission)


def private_file(request, token: str):
    """The one way to a stored file (wrapped in ``admin_view``: logged-in staff only)."""
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise Http404("No such file.") from None
    name = payload["n"]
    if payload["x"] < time.time():
        return HttpResponse(
            "This link has expired: open the page (or export the list) again for a fresh one.\n",
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    if not may_open(request.user, name):
        return HttpResponse(
            "You do not have permission to open this file.\n", status=403, content_type="text/plain; charset=utf-8"
        )
    if not default_storage.exists(name):
        raise Http404("This file no longer exists.")
    if isinstance(default_storage, PrivateS3Storage):
        return HttpResponseRedirect(default_storage.presigned_url(name))
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type,
        as_attachment=not content_type.startswith(_INLINE_TYPES),
        filename=PurePosixPath(name).name,
    )
    response["Cache-Control"] = "private, max-age=300"
    return response


class PrivateFileSystemStorage(FileSystemStorage):
    """Files on disk (the embedded run), reached only through :func:`private_file`."""

    def url(self, name):
        return file_link(name)


class PrivateS3Storage(S3Storage):
    """A private bucket; links go through :func:`private_file`, which redirects to a presigned URL."""

    def url(self, name, parameters=None, expire=None, http_method=None):
        return file_link(name)

    def presigned_url(self, name: str) -> str:
        """S3's own signed URL, expiring after ``querystring_expire`` seconds (``AWS_QUERYSTRING_EXPIRE``)."""
        return super().url(name)
