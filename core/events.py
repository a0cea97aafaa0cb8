"""The one event base: claims, refunds, replacements, orders and closure days keep their history in it.

Each concrete event model names its actions as ``TextChoices`` (no free
strings) and has one template per action under ``templates/events/<model>/``:
the admin shows a history in words, never a dict. ``describe()`` renders it.
"""

import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from core import actors
from core.actors import ActorKind


class PayloadEncoder(DjangoJSONEncoder):
    """Django's encoder, but instants keep their microseconds (Django's cuts them to milliseconds)."""

    def default(self, o):
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


class Event(models.Model):
    """One row per change: who (a staff user, the system or the customer), when, what moved and why."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_kind = models.CharField("by", max_length=8, choices=ActorKind.choices, default=ActorKind.STAFF)
    action = models.CharField(max_length=40)  # each concrete model gives its choices
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    payload = models.JSONField(default=dict, blank=True, encoder=PayloadEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_kind=ActorKind.STAFF, actor__isnull=False)
                | (~Q(actor_kind=ActorKind.STAFF) & Q(actor__isnull=True)),
                name="%(app_label)s_%(class)s_actor_matches_kind",
            )
        ]

    def __str__(self):
        return f"{self.get_action_display()} by {self.actor_name}"

    @property
    def actor_name(self) -> str:
        if self.actor_kind == ActorKind.STAFF:
            return self.actor.get_username() if self.actor_id else "someone"
        return ActorKind(self.actor_kind).label.lower()

    def template_name(self) -> str:
        return f"events/{self._meta.model_name}/{self.action}.html"

    def describe(self) -> SafeString:
        """The event in words, as HTML (the templates escape what they print)."""
        return SafeString(
            render_to_string(self.template_name(), {"event": self, "p": self.payload, **self.words_context()}).strip()
        )

    def words_context(self) -> dict:
        """Extra names a model's templates read (labels of stored choice values)."""
        return {}


def record(model: type[Event], *, by, action: str, source: str = "", target: str = "", payload=None, **subject):
    """Write one event of ``model`` for ``subject`` (e.g. ``claim=claim``), acted by ``by``."""
    return model.objects.create(
        **subject,
        **actors.event_fields(by),
        action=action,
        from_status=source,
        to_status=target,
        payload=payload or {},
    )


def build(model: type[Event], *, by, action: str, source: str = "", target: str = "", payload=None, **subject):
    """The unsaved row, for ``bulk_create``."""
    return model(
        **subject,
        **actors.event_fields(by),
        action=action,
        from_status=source,
        to_status=target,
        payload=payload or {},
    )
