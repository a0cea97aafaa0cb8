"""The support mailbox in the admin: the unsorted inbox, each message's page (read-only, its HTML shown as
escaped source), turning a message into a claim or attaching it to one, and the claim page's conversation
with its free reply (``conversation_section``, put on the claim page by ``backoffice.admin``)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from inbox import selectors, services
from inbox.models import InboundMessage, MessageState, UnsortedMessage
from returns import ledger, states
from returns import services as claim_services
from returns.admin import ClaimCreateForm, ExactSearch, _add_errors
from returns.instants import format_instant
from returns.models import Claim, Order


class MessageAdmin(ExactSearch, ModelAdmin):
    list_display = ("arrived", "sender_link", "subject_words", "kind", "state", "claim_link", "files")
    list_display_links = None
    list_filter = ("state", "kind")
    list_select_related = ("claim",)
    # search_matches(): the address in any case, the Message-ID as sent; each served by an index.
    search_fields = ("=sender_email", "=message_id")
    search_help_text = "A sender's address or a Message-ID, exactly."
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("attachments")

    def search_matches(self, term):
        return Q(sender_email__iexact=term) | Q(message_id=term)

    @admin.display(description="arrived", ordering="-id")
    def arrived(self, message):
        return format_instant(message.arrived_at)

    @admin.display(description="from")
    def sender_link(self, message):
        return message.sender

    @admin.display(description="subject")
    def subject_words(self, message):
        url = reverse("admin:inbox_inboundmessage_change", args=[message.pk])
        return format_html('<a href="{}">{}</a>', url, message.subject or "(no subject)")

    @admin.display(description="claim")
    def claim_link(self, message):
        if not message.claim_id:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:returns_claim_change", args=[message.claim_id]), message.claim
        )

    @admin.display(description="files")
    def files(self, message):
        attachments = list(message.attachments.all())
        refused = sum(1 for a in attachments if a.refused_reason)
        if not attachments:
            return "-"
        return f"{len(attachments)}" + (f" ({refused} refused)" if refused else "")


@admin.register(InboundMessage)
class InboundMessageAdmin(MessageAdmin):
    """Every message read from the mailbox; the page of one is where it is sorted."""

    def get_urls(self):
        own = [
            path("<int:message_id>/claim/", self.admin_site.admin_view(self.turn_view), name="inbox_message_turn"),
            path("<int:message_id>/attach/", self.admin_site.admin_view(self.attach_view), name="inbox_message_attach"),
            path("reply/<int:claim_id>/", self.admin_site.admin_view(self.reply_view), name="inbox_claim_reply"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = get_object_or_404(
            InboundMessage.objects.select_related("claim").prefetch_related("attachments__evidence"), pk=object_id
        )
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        sortable = message.claim_id is None and _may_sort(request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": message.subject or "(no subject)",
            "message": message,
            "arrived": format_instant(message.arrived_at),
            "sent": format_instant(message.sent_at) if message.sent_at else "",
            "sortable": sortable,
            "open_claims": selectors.open_claims_of(message) if sortable else [],
            "full_text_differs": message.body_text.strip() != message.display_text.strip(),
        }
        return TemplateResponse(request, "admin/inbox/message.html", context)

    def turn_view(self, request, message_id):
        """The new-claim form, pre-filled from the email: its text, when it arrived, the order it names (or the
        sender's), that order's lines, the files as evidence."""
        message = get_object_or_404(InboundMessage, pk=message_id)
        if not (_may_sort(request.user) and request.user.has_perm("returns.add_claim")):
            raise PermissionDenied
        message_url = reverse("admin:inbox_inboundmessage_change", args=[message.pk])
        if message.claim_id:
            messages.info(request, f"This message is already on {message.claim}.")
            return HttpResponseRedirect(message_url)
        candidates = selectors.candidate_orders(message)
        number = (request.POST.get("order_number") or request.GET.get("order") or "").strip()
        if not number and candidates:
            number = candidates[0].order.number
        order = Order.objects.filter(number=number).first() if number else None
        ledgers = ledger.for_lines(order.lines.values_list("pk", flat=True)) if order else {}
        initial = {
            "description": message.display_text,
            "submitted_at": timezone.localtime(message.arrived_at).replace(second=0, microsecond=0),
        }
        form = ClaimCreateForm(request.POST or None, order=order, ledgers=ledgers, initial=initial)
        if request.method == "POST" and order and form.is_valid():
            try:
                claim = services.message_turn_into_claim(
                    message_id=message.pk,
                    by=request.user,
                    order=order,
                    shows_whole_package=form.cleaned_data["shows_whole_package"],
                    **form.service_arguments(),
                )
            except claim_services.DuplicateSubmission as duplicate:
                messages.warning(request, str(duplicate))
                return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[duplicate.claim.pk]))
            except claim_services.UnitsTaken as taken:
                for line_id, problems in taken.by_line.items():
                    form.add_error(f"units_{line_id}", problems)
            except ValidationError as error:
                _add_errors(form, error)
            except (states.InvalidTransition, PermissionDenied) as error:
                messages.error(request, str(error))
                return HttpResponseRedirect(message_url)
            else:
                messages.success(
                    request,
                    f"{claim} created from the email; its files are evidence and the customer was sent an "
                    "acknowledgement in the same thread.",
                )
                return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New claim from an email",
            "message": message,
            "message_url": message_url,
            "arrived": format_instant(message.arrived_at),
            "candidates": candidates,
            "order": order,
            "order_query": number,
            "order_not_found": bool(number) and order is None,
            "form": form,
        }
        return TemplateResponse(request, "admin/inbox/turn_into_claim.html", context)

    def attach_view(self, request, message_id):
        """Attach the message to an open claim, named by a suggestion's button or typed (RMA number or #)."""
        if request.method != "POST":
            raise PermissionDenied
        message = get_object_or_404(InboundMessage, pk=message_id)
        message_url = reverse("admin:inbox_inboundmessage_change", args=[message.pk])
        try:
            claim_id = services.require_claim_reference(request.POST.get("claim", ""))
            claim = services.message_attach_to_claim(
                message_id=message.pk,
                claim_id=claim_id,
                by=request.user,
                shows_whole_package=request.POST.get("shows_whole_package") == "on",
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except (states.InvalidTransition, PermissionDenied) as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"The message and its files were added to {claim}.")
            return HttpResponseRedirect(reverse("admin:returns_claim_change", args=[claim.pk]))
        return HttpResponseRedirect(message_url)

    def reply_view(self, request, claim_id):
        """The claim page's free reply: through the outbox, threaded, with the files attached."""
        if request.method != "POST":
            raise PermissionDenied
        claim = get_object_or_404(Claim, pk=claim_id)
        claim_url = reverse("admin:returns_claim_change", args=[claim.pk])
        files = request.FILES.getlist("reply_files")
        try:
            email = claim_services.claim_reply(
                claim_id=claim.pk,
                by=request.user,
                message=request.POST.get("reply", ""),
                attachments=[(f.name, f.content_type or "application/octet-stream", f.read()) for f in files],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            request.session[_reply_draft_key(claim.pk)] = request.POST.get("reply", "")
        except PermissionDenied as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Your reply to {email.to} is in the outbox; it goes out in a moment.")
        return HttpResponseRedirect(claim_url + "#conversation")


@admin.register(UnsortedMessage)
class UnsortedMessageAdmin(MessageAdmin):
    """The unsorted inbox: customers' emails no claim was found for, newest first."""

    list_filter = ()

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=MessageState.UNSORTED)

    def get_urls(self):
        # The message page, and its actions, are the InboundMessage admin's.
        return ModelAdmin.get_urls(self)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:inbox_inboundmessage_change", args=[object_id]))


def _may_sort(user) -> bool:
    return user.has_perm(services.SORT)


def _reply_draft_key(claim_id: int) -> str:
    return f"claim-reply-draft-{claim_id}"


def conversation_section(request, claim: Claim, page: dict) -> str:
    """The claim page's conversation: every email in and out, in order, with its files; and the free reply.
    ``page["conversation"]``, when the page already read it, saves reading it again."""
    if not (request.user.has_perm("inbox.view_inboundmessage") or request.user.has_perm("returns.view_outboundemail")):
        return ""
    entries = page["conversation"] if "conversation" in page else selectors.conversation(claim)
    # Our emails are folded but the latest, which the customer is answering: the page stays short.
    latest_out = next((entry for entry in reversed(entries) if not entry.incoming), None)
    context = {
        "claim": claim,
        "entries": [
            {
                "entry": entry,
                "when": format_instant(entry.when),
                "full_text_differs": entry.incoming
                and entry.message.body_text.strip() != entry.message.display_text.strip(),
                "open": entry is latest_out,
            }
            for entry in entries
        ],
        "can_reply": request.user.has_perm("returns.triage_claim"),
        "draft": request.session.pop(_reply_draft_key(claim.pk), ""),
    }
    return render_to_string("admin/inbox/conversation.html", context, request=request)
