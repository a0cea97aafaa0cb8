"""The support mailbox's writes: read the mailbox, store each message once, match it to its claim, and the
two things customer service does with an unsorted message (turn it into a claim, attach it to one).

Every write to a claim goes through ``returns.services``: the customer's text joins the claim
(``claim_attach_message``) or answers an information request (``claim_record_customer_answer``, which
restarts the 24-hour first response), each attachment becomes evidence (``evidence_add``, the admin's upload
checks). What the beat task does it does as the system (``core.actors.SYSTEM``).
"""

import io
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from core import actors
from inbox import parsing, sources
from inbox.models import InboundAttachment, InboundMessage, Mailbox, MatchedBy, MessageKind, MessageState
from returns import services as claims
from returns import states, uploads
from returns.models import OPEN_STATUSES, Claim, ClaimStatus, Order, OutboundEmail

log = logging.getLogger(__name__)

SORT = "inbox.sort_inboundmessage"
_RMA = re.compile(r"\bRMA-\d{4}-\d{6}\b", re.IGNORECASE)
# An inline picture this small is a signature's logo or an icon, not a photo of the goods.
_ICON_PIXELS = 160 * 160
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class ReadResult:
    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    left: int = 0
    skipped: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --- Reading the mailbox -----------------------------------------------------------


def mailbox_read(*, source=None, limit: int | None = None) -> ReadResult:
    """Read every waiting message: store it (or find it stored), then move it to the processed folder.

    A message is moved only after its row committed, so a crash anywhere loses nothing; the next run finds
    the rows of messages stored but not yet moved (IMAP UID, else Message-ID) and only moves them. One
    reader at a time: the mailbox's lease (renewed every batch) turns a second run away. A message whose
    storing fails unexpectedly is stored as a bare row with the reason; if even that fails it stays in the
    mailbox for the next run, and the batch goes on.
    """
    source = source or sources.configured()
    result = ReadResult()
    if not _take_lease(source.name):
        result.skipped = True
        return result
    error = ""
    try:
        with source:
            keys = source.pending()
            if limit is not None:
                result.left, keys = max(0, len(keys) - limit), keys[:limit]
            for batch in _batches(source, keys):
                _renew_lease(source.name)
                # Stored by a run that died before moving them: moved now, not fetched again.
                done = _already_stored(source, batch)
                result.already_stored += len(done)
                for fetched in source.fetch([key for key in batch if key not in done]):
                    outcome = _store_one(source, fetched)
                    if outcome is None:
                        result.failed += 1
                        continue
                    done.append(fetched.key)
                    if outcome:
                        result.stored += 1
                    else:
                        result.already_stored += 1
                source.done(done)
    except Exception as failure:
        error = f"{type(failure).__name__}: {failure}"
        raise
    finally:
        Mailbox.objects.filter(name=source.name).update(
            leased_until=None, last_run_at=timezone.now(), last_result=result.as_dict(), last_error=error
        )
    return result


def _batches(source, keys: list[str]):
    """Up to ``INBOUND_FETCH_CHUNK`` messages a fetch, and no more than ``INBOUND_FETCH_MAX_BYTES`` together
    (a message larger than that is fetched alone)."""
    chunk = max(1, settings.INBOUND_FETCH_CHUNK)
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        sizes = source.sizes(part)
        batch, total = [], 0
        for key in part:
            size = sizes.get(key, 0)
            if batch and total + size > settings.INBOUND_FETCH_MAX_BYTES:
                yield batch
                batch, total = [], 0
            batch.append(key)
            total += size
        if batch:
            yield batch


def _already_stored(source, keys: list[str]) -> list[str]:
    if source.uidvalidity is None:
        return []
    stored = InboundMessage.objects.filter(
        mailbox=source.name, uidvalidity=source.uidvalidity, uid__in=[int(key) for key in keys]
    ).values_list("uid", flat=True)
    stored = {str(uid) for uid in stored}
    return [key for key in keys if key in stored]


def _store_one(source, fetched) -> bool | None:
    """True: stored now; False: stored before; None: could not be stored (left in the mailbox)."""
    try:
        _, created = message_store(
            raw=fetched.raw, mailbox=source.name, uidvalidity=source.uidvalidity, uid=fetched.uid
        )
        return created
    except Exception as error:
        log.exception("inbox: message %s of %s not stored", fetched.key, source.name)
        try:
            _, created = _store_bare(fetched.raw, source.name, source.uidvalidity, fetched.uid, error)
            return created
        except Exception:
            log.exception("inbox: message %s of %s left in the mailbox", fetched.key, source.name)
            return None


def _take_lease(name: str) -> bool:
    Mailbox.objects.get_or_create(name=name)
    now = timezone.now()
    return bool(
        Mailbox.objects.filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now), name=name).update(
            leased_until=now + timedelta(seconds=settings.INBOUND_LEASE_SECONDS)
        )
    )


def _renew_lease(name: str) -> None:
    Mailbox.objects.filter(name=name).update(
        leased_until=timezone.now() + timedelta(seconds=settings.INBOUND_LEASE_SECONDS)
    )


# --- Storing one message ---------------------------------------------------------------


def message_store(
    *, raw: bytes, mailbox: str, uidvalidity: int | None = None, uid: int | None = None
) -> tuple[InboundMessage, bool]:
    """Store one message (parsed, attachments checked) and match it to its claim; (message, created).

    A message already stored under the same IMAP UID or Message-ID is returned as it is. Matched to an
    open claim, it joins it as the system; otherwise it waits in the unsorted inbox with the reason.
    """
    if uid is not None:
        existing = InboundMessage.objects.filter(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid).first()
        if existing:
            return existing, False
    parsed = parsing.parse(raw, own_addresses=_own_addresses())
    existing = InboundMessage.objects.filter(message_id=parsed.message_id).first()
    if existing:
        return existing, False
    now = timezone.now()
    arrived_at = parsed.sent_at if parsed.sent_at and parsed.sent_at <= now + _CLOCK_SKEW else now
    try:
        with transaction.atomic():
            message = InboundMessage.objects.create(
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                uid=uid,
                message_id=parsed.message_id,
                in_reply_to=" ".join(parsed.in_reply_to),
                references=" ".join(parsed.references),
                sender_email=parsed.sender_email,
                sender_name=parsed.sender_name,
                sender_raw=parsed.sender_raw,
                recipients="\n".join(parsed.recipients),
                subject=parsed.subject,
                sent_at=parsed.sent_at,
                arrived_at=min(arrived_at, now),
                size_bytes=parsed.size,
                headers=parsed.headers,
                body_text=parsed.body_text,
                body_html=parsed.body_html,
                display_text=parsed.display_text,
                kind=parsed.kind,
                state=MessageState.UNSORTED if parsed.kind == MessageKind.CUSTOMER else MessageState.AUTOMATIC,
                problems=parsed.problems,
                note=f"Not acted on: {parsed.kind_reason}." if parsed.kind != MessageKind.CUSTOMER else "",
            )
            claim, matched_by, note = match(message)
            rows = _attachment_rows(message, parsed.attachments)
            data = {a_position: a.data for a_position, a in enumerate(parsed.attachments, start=1)}
            joined = False
            if claim and message.kind == MessageKind.CUSTOMER:
                try:
                    with transaction.atomic():
                        _join_claim(message, claim, actors.SYSTEM, matched_by, data=data)
                    joined = True
                except (states.InvalidTransition, PermissionDenied, ValidationError) as refused:
                    message.claim, message.state, message.matched_by = None, MessageState.UNSORTED, ""
                    note = f"It answers {claim}, but could not join it: {' '.join(_words(refused))}"
            elif claim:
                # An auto-reply or bounce about the claim's email: shown in its conversation, nothing else.
                message.claim, message.matched_by = claim, matched_by
                message.save(update_fields=["claim", "matched_by"])
            if not joined:
                _keep_checked_copies(rows, data)
            if note:
                message.note = " ".join(filter(None, [message.note, note]))
                message.save(update_fields=["note", "claim", "state", "matched_by"])
    except IntegrityError:
        # Stored meanwhile (the same message twice in one batch, or a reader the lease did not stop).
        existing = InboundMessage.objects.filter(
            Q(message_id=parsed.message_id) | Q(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, uid__isnull=False)
        ).first()
        if existing is None:
            raise
        return existing, False
    return message, True


def _store_bare(raw: bytes, mailbox: str, uidvalidity, uid, error: Exception) -> tuple[InboundMessage, bool]:
    """The last resort for a message the parser or a check choked on: its headers and text, unsorted, with
    the reason, so that nothing is lost and the batch goes on."""
    import hashlib

    message_id = f"<{hashlib.sha256(raw).hexdigest()}@unreadable.invalid>"
    existing = InboundMessage.objects.filter(
        Q(message_id=message_id) | Q(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, uid__isnull=False)
    ).first()
    if existing:
        return existing, False
    head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    message = InboundMessage.objects.create(
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=message_id,
        arrived_at=timezone.now(),
        size_bytes=len(raw),
        headers=head.decode("utf-8", "replace")[:100_000],
        body_text=body.decode("utf-8", "replace")[:1_000_000],
        display_text=body.decode("utf-8", "replace")[:10_000],
        problems=[f"The message could not be read ({type(error).__name__}); its source is shown as text."],
        note="Stored as text only: the original is in the processed folder.",
    )
    return message, True


def _own_addresses() -> frozenset[str]:
    addresses = {settings.INBOUND_REPLY_ADDRESS, settings.RMA_SUPPORT_EMAIL}
    return frozenset(address.lower() for address in addresses if address)


def _attachment_rows(message: InboundMessage, attachments) -> list[InboundAttachment]:
    """One row per file, in order; a picture in the text too small to be a photo is refused here."""
    rows = []
    for position, parsed in enumerate(attachments, start=1):
        rows.append(
            InboundAttachment(
                message=message,
                position=position,
                original_name=parsed.name,
                content_type=parsed.content_type[:127],
                size_bytes=len(parsed.data),
                inline=parsed.inline,
                from_forwarded=parsed.from_forwarded,
                refused_reason=_icon_refusal(parsed),
            )
        )
    return InboundAttachment.objects.bulk_create(rows)


def _keep_checked_copies(rows: list[InboundAttachment], data: dict[int, bytes]) -> None:
    """A message that joined no claim keeps each file as the upload checks leave it (location stripped), or
    the reason it was refused, until a person sorts it."""
    for row in InboundAttachment.objects.filter(pk__in=[r.pk for r in rows], refused_reason="", evidence=None):
        try:
            checked = uploads.check_evidence(ContentFile(data[row.position], name=row.original_name))
        except uploads.RejectedUpload as rejected:
            row.refused_reason = str(rejected)
            row.save(update_fields=["refused_reason"])
        else:
            row.file.save(checked.storage_name, checked.content, save=False)
            row.save(update_fields=["file"])


def _words(error: Exception) -> list[str]:
    return list(getattr(error, "messages", None) or [str(error)])


def _icon_refusal(parsed) -> str:
    if not parsed.inline or not parsed.content_type.startswith("image/") or len(parsed.data) > 200_000:
        return ""
    try:
        with Image.open(io.BytesIO(parsed.data)) as image:
            width, height = image.size
    except Exception:
        return ""
    if width * height <= _ICON_PIXELS:
        return f"“{parsed.name}” is a small picture in the text ({width}×{height} pixels, a logo or an icon): not evidence."
    return ""


# --- Matching --------------------------------------------------------------------------


def match(message: InboundMessage) -> tuple[Claim | None, str, str]:
    """The claim a message belongs to, how it was found, and words for a person when none (or a closed one).

    In order: the claim's reply token in an address it was sent to (support+<token>@…), the emails it
    answers (In-Reply-To, References: ours or the customer's earlier ones), an RMA number in the subject
    when the sender is that claim's customer (the number alone is no secret).
    """
    claim, how = _find(message)
    if claim is None:
        return None, "", ""
    if message.kind == MessageKind.CUSTOMER and claim.status not in OPEN_STATUSES:
        return (
            None,
            "",
            f"It answers {claim}, which is {claim.get_status_display().lower()}: a person decides "
            "(a new claim, or a reply from the claim's page).",
        )
    return claim, how, ""


def _find(message: InboundMessage) -> tuple[Claim | None, str]:
    tokens = re.findall(_token_pattern(), message.recipients.lower())
    if tokens:
        claim = Claim.objects.filter(reply_token__in=tokens).first()
        if claim:
            return claim, MatchedBy.REPLY_TOKEN
    ids = [i for i in (message.in_reply_to.split() + message.references.split()) if i]
    if ids:
        ours = (
            OutboundEmail.objects.filter(message_id__in=ids, claim__isnull=False)
            .exclude(message_id="")
            .order_by("-id")
            .values_list("claim_id", flat=True)
            .first()
        )
        if ours is None:
            ours = (
                InboundMessage.objects.filter(message_id__in=ids, claim__isnull=False)
                .order_by("-id")
                .values_list("claim_id", flat=True)
                .first()
            )
        if ours is not None:
            return Claim.objects.get(pk=ours), MatchedBy.THREAD
    numbers = {number.upper() for number in _RMA.findall(message.subject)}
    if numbers and message.sender_email:
        claim = Claim.objects.filter(rma_number__in=numbers, customer_email__iexact=message.sender_email).first()
        if claim:
            return claim, MatchedBy.RMA_NUMBER
    return None, ""


def _token_pattern() -> str:
    local, _, domain = settings.INBOUND_REPLY_ADDRESS.lower().partition("@")
    return rf"{re.escape(local)}\+([0-9a-f]{{24}})@{re.escape(domain)}"


# --- Joining a claim ---------------------------------------------------------------------


def _join_claim(
    message: InboundMessage, claim: Claim, by, matched_by: str, *, data=None, shows_whole_package=False
) -> None:
    """The message's text and files join ``claim`` through returns' services (inside the caller's transaction).

    Awaiting the customer: the text is their answer (the claim goes back to requested, the 24-hour clock
    restarts). Otherwise it is a message on the claim. Each checked file becomes evidence; a refused one
    stays listed on the message with its reason.
    """
    # The claim's lock first: its status decides between an answer and a message.
    claim = Claim.objects.select_for_update(of=("self",)).get(pk=claim.pk)
    _evidence_from(message, claim, by, data=data, shows_whole_package=shows_whole_package)
    text = message.display_text.strip() or _no_text(message)
    if claim.status == ClaimStatus.AWAITING_CUSTOMER:
        claims.claim_record_customer_answer(claim_id=claim.pk, by=by, answer=text)
    else:
        claims.claim_attach_message(claim_id=claim.pk, by=by, message=text, received_at=message.arrived_at)
    claims.claim_thread_note(
        claim_id=claim.pk,
        message_id=message.message_id,
        references=" ".join(dict.fromkeys(message.references.split() or message.in_reply_to.split())),
    )
    message.claim, message.state, message.matched_by = claim, MessageState.ON_CLAIM, matched_by
    message.save(update_fields=["claim", "state", "matched_by"])


def _evidence_from(message: InboundMessage, claim: Claim, by, *, data=None, shows_whole_package=False) -> None:
    """Each file the checks took becomes evidence on the claim (``evidence_add`` checks it again); one
    refused there is listed on the message with the reason."""
    for attachment in message.attachments.filter(refused_reason="", evidence=None).order_by("position"):
        content = (data or {}).get(attachment.position)
        if content is None:
            if not attachment.file:
                continue
            with attachment.file.open("rb") as stored:
                content = stored.read()
        try:
            evidence = claims.evidence_add(
                claim_id=claim.pk,
                by=by,
                upload=ContentFile(content, name=attachment.original_name),
                shows_whole_package=shows_whole_package,
            )
        except uploads.RejectedUpload as rejected:
            attachment.refused_reason = str(rejected)
            attachment.save(update_fields=["refused_reason"])
        else:
            attachment.evidence = evidence
            if not attachment.file:  # straight from the email: the evidence's file is the checked copy
                attachment.file.name = evidence.file.name
            attachment.save(update_fields=["evidence", "file"])


def _no_text(message: InboundMessage) -> str:
    names = [a.original_name for a in message.attachments.all()]
    if names:
        return f"(An email with no text; attached: {', '.join(names)}.)"
    return "(An email with no text.)"


# --- What customer service does with an unsorted message ----------------------------------


def _lock_sortable(message_id: int, by) -> InboundMessage:
    if actors.kind_of(by) != actors.ActorKind.STAFF or not by.has_perm(SORT):
        raise PermissionDenied("You do not have permission to sort the support mailbox.")
    message = InboundMessage.objects.select_for_update().get(pk=message_id)
    if message.claim_id is not None:
        raise states.InvalidTransition(f"This message is already on {message.claim}; nothing was changed.")
    return message


def message_attach_to_claim(*, message_id: int, claim_id: int, by, shows_whole_package: bool = False) -> Claim:
    """Customer service attaches an unsorted (or automatic) message to an open claim: as the system would
    have, under their own name."""
    with transaction.atomic():
        message = _lock_sortable(message_id, by)
        claim = Claim.objects.get(pk=claim_id)
        if claim.status not in OPEN_STATUSES:
            raise states.InvalidTransition(
                f"{claim} is {claim.get_status_display().lower()}: a message can only join an open claim."
            )
        _join_claim(message, claim, by, MatchedBy.AGENT, shows_whole_package=shows_whole_package)
    return claim


def message_turn_into_claim(
    *, message_id: int, by, order: Order, shows_whole_package: bool = False, **claim_arguments
) -> Claim:
    """A new claim from the customer's email (``claim_create``: the policy's checks, the acknowledgement,
    threaded with their email), its files as evidence, the message on it. All or nothing."""
    with transaction.atomic():
        message = _lock_sortable(message_id, by)
        claim = claims.claim_create(
            order=order,
            by=by,
            customer_message_id=message.message_id,
            customer_thread_references=message.references,
            **claim_arguments,
        )
        _evidence_from(message, claim, by, shows_whole_package=shows_whole_package)
        message.claim, message.state, message.matched_by = claim, MessageState.ON_CLAIM, MatchedBy.NEW_CLAIM
        message.save(update_fields=["claim", "state", "matched_by"])
    return claim


def require_claim_reference(reference: str) -> int:
    """A claim by its RMA number or its number ("#12" or "12"), for the attach form."""
    reference = reference.strip()
    claim_id = None
    if _RMA.fullmatch(reference):
        claim_id = Claim.objects.filter(rma_number=reference.upper()).values_list("pk", flat=True).first()
    elif reference.lstrip("#").isdigit():
        claim_id = Claim.objects.filter(pk=int(reference.lstrip("#"))).values_list("pk", flat=True).first()
    if claim_id is None:
        raise ValidationError({"claim": f"No claim “{reference}”: give its RMA number or its number."})
    return claim_id
