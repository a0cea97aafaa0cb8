"""Cap a request's uploads and refuse a NUL in its values (times are shown in the company's zone: docs/console.md)."""

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.http import HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _


class InputLimitMiddleware:
    """A request's input, checked before any view reads it (docs/security.md).

    - Uploads, capped in total bytes and number of files: the body's declared length is checked before a
      byte of it is read; the number of files is Django's ``DATA_UPLOAD_MAX_NUMBER_FILES``
      (``settings.UPLOAD_MAX_FILES``), counted while the body is parsed. Files are parsed into temporary
      files above ``FILE_UPLOAD_MAX_MEMORY_SIZE``, so memory stays bounded.
    - A NUL character in a query or form value, which PostgreSQL refuses in any text (a 500 wherever a
      view passes it on), is refused here.
    Either way the answer is a page that says what was wrong, not a 400 or a 500 with no words.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.UPLOAD_MAX_REQUEST_BYTES:
                return _uploads_refused()
            try:
                request.FILES  # noqa: B018 (parsed here, where the refusal can still be a clear page)
            except TooManyFilesSent:
                return _uploads_refused()
        if _has_nul(request.GET) or (
            request.method == "POST"
            and request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded")
            and _has_nul(request.POST)
        ):
            return _refused(
                _("A value contains a NUL character"),
                _("No field accepts the NUL character (\\0). Nothing was saved: correct the value and try again."),
                status=400,
            )
        return self.get_response(request)


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values.getlist(key)) for key in values)


def _uploads_refused() -> HttpResponse:
    limits = _("Send at most %(files)d files, %(size)d MB in all, at once.") % {
        "files": settings.UPLOAD_MAX_FILES,
        "size": settings.UPLOAD_MAX_REQUEST_BYTES // (1024 * 1024),
    }
    return _refused(
        _("Too much to upload at once"),
        limits,
        _("Nothing was saved: go back, and send fewer or smaller files."),
        status=413,
    )


def _refused(title: str, *paragraphs: str, status: int) -> HttpResponse:
    body = format_html(
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        "<title>{}</title></head><body><h1>{}</h1>{}</body></html>",
        title,
        title,
        format_html_join("", "<p>{}</p>", ((text,) for text in paragraphs)),
    )
    return HttpResponse(body, status=status)
