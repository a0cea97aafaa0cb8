"""The Content-Security-Policy (django-csp 4): strict everywhere, with what the admin theme needs on top.

The base (``settings.CONTENT_SECURITY_POLICY``) allows scripts and styles from this site and inline ones only
with the request's nonce. Two additions, per request (docs/security.md, "Content-Security-Policy"):

- the stored files' origin for images and videos, read from ``STORAGES`` at each request (the private file
  view redirects to S3's presigned URLs, and the browser checks where it lands; files on disk are this site);
- under the admin, ``'unsafe-eval'`` for Alpine.js (unfold's standard build compiles its ``x-`` expressions
  with ``new Function``) and ``'unsafe-inline'`` for style *attributes* only (unfold's templates and Alpine's
  ``x-bind:style`` write them); ``<style>`` and ``<script>`` elements still need the nonce.
"""

from urllib.parse import urlsplit

from csp.constants import UNSAFE_EVAL, UNSAFE_INLINE
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.utils.module_loading import import_string
from storages.backends.s3 import S3Storage

ADMIN_PREFIX = "/admin/"


def storage_origins() -> list[str]:
    """Where the browser fetches stored files from, when that is not this site."""
    storage = settings.STORAGES["default"]
    if not issubclass(import_string(storage["BACKEND"]), S3Storage):
        return []
    options = storage.get("OPTIONS", {})
    endpoint = options.get("endpoint_url") or getattr(settings, "AWS_S3_ENDPOINT_URL", None)
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]
    custom = options.get("custom_domain") or getattr(settings, "AWS_S3_CUSTOM_DOMAIN", None)
    if custom:
        return [f"https://{custom}"]
    return ["https://*.amazonaws.com"]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if report_only:
            return parts
        update = dict(parts.update or {})
        origins = storage_origins()
        if origins:
            update["img-src"] = [*update.get("img-src", []), *origins]
            update["media-src"] = [*update.get("media-src", []), *origins]
        if request.path_info.startswith(ADMIN_PREFIX):
            update["script-src"] = [*update.get("script-src", []), UNSAFE_EVAL]
            update["style-src-attr"] = [*update.get("style-src-attr", []), UNSAFE_INLINE]
        parts.update = update
        return parts
