"""The small state-machine helper the claim, refund and replacement tables share.

Each domain declares its ``Transition`` rows in its own ``states.py`` and wraps
them in a ``StateMachine``; the services call ``require`` before every move,
the admin draws its buttons from ``allowed``, the docs print ``as_markdown``.
Nothing else decides whether a row may move.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from core import actors


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    # A staff user with this permission may take it; None: no person may (only the system).
    permission: str | None
    label: str
    # The system actor (tasks, beat) may take it.
    system: bool = False
    # The customer may take it, through a signed link.
    customer: bool = False


class InvalidTransition(Exception):
    """The row cannot take this action now; the message says why, for a person."""


class NotPermitted(PermissionDenied):
    """The actor may not take this action."""


class StateMachine:
    def __init__(self, *, noun: str, statuses, transitions: Iterable[Transition], past: dict[str, str], initial: str):
        self.noun = noun
        self.statuses = statuses  # the TextChoices of the row's status
        self.transitions = tuple(transitions)
        self.past = past  # action -> the words after "cannot be"
        self.initial = initial  # never reported as "already" done
        self.actions = tuple(dict.fromkeys(t.action for t in self.transitions))
        self._by_source_action = {(t.source, t.action): t for t in self.transitions}
        missing = set(self.actions) - set(past)
        if missing:
            raise ValueError(f"no words for {sorted(missing)}")

    def label(self, status: str) -> str:
        return self.statuses(status).label.lower()

    def require(self, status: str, action: str, by) -> Transition:
        """The transition for ``action`` from ``status``, if the table allows it to ``by``."""
        transition = self._by_source_action.get((status, action))
        if transition is None:
            if status != self.initial and any(t.action == action and t.target == status for t in self.transitions):
                # The usual cause: two people clicked at once and the other one was first.
                raise InvalidTransition(f"This {self.noun} is already {self.label(status)}; nothing was changed.")
            allowed_from = list(dict.fromkeys(self.label(t.source) for t in self.transitions if t.action == action))
            raise InvalidTransition(
                f"A {self.noun} that is {self.label(status)} cannot be {self.past[action]}; "
                f"only a {self.noun} that is {' or '.join(allowed_from)} can."
            )
        kind = actors.kind_of(by)
        if kind == actors.ActorKind.SYSTEM:
            if not transition.system:
                raise NotPermitted(f"The system may not {transition.label.lower()} a {self.noun}; a person does.")
        elif kind == actors.ActorKind.CUSTOMER:
            if not transition.customer:
                raise NotPermitted("Only staff can do this.")
        elif transition.permission is None or not by.has_perm(transition.permission):
            raise NotPermitted(f"You do not have permission to {transition.label.lower()} {self.noun}s.")
        return transition

    def allowed(self, status: str, user, actions: Iterable[str] | None = None) -> list[Transition]:
        """The transitions a staff user may take from ``status``: the admin's buttons."""
        return [
            t
            for t in self.transitions
            if t.source == status
            and (actions is None or t.action in actions)
            and t.permission is not None
            and user.has_perm(t.permission)
        ]

    def as_markdown(self) -> str:
        """The table as the docs show it (each app's docs page is checked against this by a test)."""
        rows = ["| from | action | to | who |", "|---|---|---|---|"]
        for t in self.transitions:
            who = [f"`{t.permission}`"] if t.permission else []
            who += ["the system"] if t.system else []
            who += ["the customer"] if t.customer else []
            rows.append(f"| {t.source} | {t.action} | {t.target} | {' or '.join(who)} |")
        return "\n".join(rows) + "\n"
