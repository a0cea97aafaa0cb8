"""The store's public endpoint: Shopify's webhooks (``stores.webhooks`` does the work)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stores import webhooks


def _answer(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt  # Shopify signs the body (X-Shopify-Hmac-Sha256); it has no session and sends no CSRF token.
@require_POST
def shopify_webhook(request):
    """Receive one Shopify webhook: check it, store it once, queue its processing, answer at once.

    - A body over ``SHOPIFY_WEBHOOK_MAX_BYTES``: 413, nothing read or stored.
    - A missing or wrong ``X-Shopify-Hmac-Sha256`` (or no secret configured): 401, nothing stored.
    - No ``X-Shopify-Webhook-Id`` or ``X-Shopify-Topic``: 400 (Shopify always sends both).
    - A topic we do not read: 200 and ignored, nothing stored. Shopify retries a delivery that is not
      answered with a 2xx and, after repeated failures, removes the subscription: a subscription we did not
      ask for is not an error to retry, and its bodies are not ours to keep.
    - A ``X-Shopify-Webhook-Id`` already stored (Shopify retrying): 200, nothing queued again.
    - Otherwise: stored, its task queued once committed, 200. Shopify waits a few seconds only, so the
      work is done by the task, not here.
    """
    limit = settings.SHOPIFY_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _answer("Too large.", 413)
    try:
        body = request.body
    except RequestDataTooBig:
        return _answer("Too large.", 413)
    if len(body) > limit:
        return _answer("Too large.", 413)
    if not webhooks.signature_valid(body, request.headers.get("X-Shopify-Hmac-Sha256", "")):
        return _answer("Signature missing or wrong.", 401)
    webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()
    topic = request.headers.get("X-Shopify-Topic", "").strip()
    if not webhook_id or not topic or len(webhook_id) > 255:
        return _answer("X-Shopify-Webhook-Id and X-Shopify-Topic are required.", 400)
    if topic not in webhooks.TOPICS:
        return _answer(f"Topic {topic} is not read here: ignored.")
    delivery = webhooks.delivery_receive(
        webhook_id=webhook_id,
        topic=topic,
        shop_domain=request.headers.get("X-Shopify-Shop-Domain", ""),
        api_version=request.headers.get("X-Shopify-API-Version", ""),
        triggered_at=request.headers.get("X-Shopify-Triggered-At", ""),
        body=body,
    )
    return _answer("Received." if delivery else "Already received.")
