"""Who acts on a claim, a refund or a replacement.

A staff member is a Django user and acts under their permissions. Two actors
are not users:

- ``SYSTEM``: Celery tasks and beat (refund results, sweeps, proposals,
  reconciliation). What a task does, it does as the system, never under the
  permission of the person whose click queued it: that person may have left
  by the time it runs. The state tables say which transitions the system may
  take (``system=True``); it holds no permission of its own.
- ``CUSTOMER``: the customer, through a signed link (entering the return
  parcel's tracking). The state tables say which transitions are theirs.

Events record the kind (``ActorKind``) and, for staff, the user.
"""

from dataclasses import dataclass

from django.db import models


class ActorKind(models.TextChoices):
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"
    CUSTOMER = "customer", "Customer"


@dataclass(frozen=True)
class NonUserActor:
    """The system or the customer: holds no permission, so a staff-only check always refuses it."""

    kind: str
    name: str
    pk = None
    is_active = True
    is_authenticated = False

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def get_username(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


SYSTEM = NonUserActor(ActorKind.SYSTEM, "system")
CUSTOMER = NonUserActor(ActorKind.CUSTOMER, "customer")


def kind_of(by) -> str:
    if isinstance(by, NonUserActor):
        return by.kind
    if by is None or not getattr(by, "is_authenticated", False):
        raise TypeError(f"an actor is a staff user, SYSTEM or CUSTOMER, not {by!r}")
    return ActorKind.STAFF


def is_system(by) -> bool:
    return by is SYSTEM


def event_fields(by) -> dict:
    """The actor columns of an event row for ``by``."""
    kind = kind_of(by)
    return {"actor": by if kind == ActorKind.STAFF else None, "actor_kind": kind}


def name(by) -> str:
    """How a person reads the actor: a username, "system" or "customer"."""
    return by.get_username()
