"""Claims on images under review, so that two annotators never review one image unknowingly.

Opening an image for review claims it: a lease held by the app's user name until an expiry
on the database's clock (PostgreSQL's ``clock_timestamp()`` in UTC, the local clock for an
SQLite file), renewed while the image stays open (:meth:`ClaimRecords.claim` again) and
let go when the annotator moves on (:meth:`ClaimRecords.release`). A claim past its expiry
counts as none, so an app that was killed lets go by itself after one lease.

Claims belong to user names: two windows of one user share them. Every call is one
transaction; claiming takes the write lock (:mod:`core.store.database`), so of two apps
claiming one image at once exactly one gets it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.store.database import database_now
from core.store.models import Claim, Image
from core.store.sessions import Sessions

#: How long a claim lasts unless renewed, in seconds (the app renews it every third of it).
LEASE = 120.0


@dataclass(frozen=True)
class ClaimRow:
    """Who holds the claim on an image and until when (aware UTC)."""

    image_id: int
    user_name: str
    expires_at: datetime


def claims_of_others(
    s: Session, user: str, image_ids: Iterable[int] | None = None
) -> dict[int, ClaimRow]:
    """The claims other users than ``user`` hold now (not expired), by image id; only of
    ``image_ids`` when given."""
    query = select(Claim).where(Claim.expires_at > database_now(s), Claim.user_name != user)
    if image_ids is not None:
        query = query.where(Claim.image_id.in_(list(image_ids)))
    return {c.image_id: ClaimRow(c.image_id, c.user_name, c.expires_at) for c in s.scalars(query)}


class ClaimRecords:
    """The claim calls of :class:`~core.store.project.Project` (``project.claim_records``),
    on behalf of the project's user (:attr:`~core.store.project.Project.user`)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def _held_by_others(self, s: Session, image_ids: Iterable[int] | None) -> dict[int, ClaimRow]:
        return claims_of_others(s, self._sessions.user, image_ids)

    def _take(self, s: Session, image_id: int, lease: float) -> ClaimRow:
        now = database_now(s)
        claim = s.get(Claim, image_id)
        if claim is None:
            if s.get(Image, image_id) is None:
                raise KeyError(f"no image with id {image_id}")
            claim = Claim(image_id=image_id, user_name=self._sessions.user, claimed_at=now)
            s.add(claim)
        elif claim.user_name != self._sessions.user:  # expired: the other let go
            claim.user_name, claim.claimed_at = self._sessions.user, now
        claim.expires_at = now + timedelta(seconds=lease)
        return ClaimRow(image_id, claim.user_name, claim.expires_at)

    def claim(self, image_id: int, lease: float = LEASE, release: int | None = None) -> ClaimRow:
        """Claim the image for ``lease`` seconds from now, or renew this user's claim;
        ``release``: an image whose claim of this user is let go in the same transaction
        (the one the annotator leaves).

        Returns the claim that holds the image now: this user's, or another user's whose
        claim has not expired (then nothing changed; compare ``user_name`` with the
        project's user). KeyError: no such image.
        """
        with self._sessions.transaction(write=True) as s:
            if release is not None and release != image_id:
                self._release(s, release)
            other = self._held_by_others(s, [image_id])
            return other[image_id] if other else self._take(s, image_id, lease)

    def claim_first(
        self,
        image_ids: Sequence[int],
        lease: float = LEASE,
        statuses: Collection[str] | None = None,
    ) -> int | None:
        """Claim the first of ``image_ids`` (in order) that no other user holds and, with
        ``statuses``, whose status is still one of them; its id, or None when there is
        none. One transaction under the write lock: of two apps asking at once, each gets
        a different image, and an image someone finished meanwhile is not handed out."""
        with self._sessions.transaction(write=True) as s:
            taken = self._held_by_others(s, None)  # a few, one per annotator at most
            for image_id in image_ids:
                if image_id in taken:
                    continue
                if statuses is not None:
                    status = s.scalar(select(Image.status).where(Image.id == image_id))
                    if status not in statuses:
                        continue
                self._take(s, image_id, lease)
                return image_id
            return None

    def _release(self, s: Session, image_id: int) -> None:
        mine = Claim.user_name == self._sessions.user
        s.execute(delete(Claim).where(Claim.image_id == image_id, mine))

    def release(self, image_id: int) -> None:
        """Let go of this user's claim on the image (nothing when it holds none)."""
        with self._sessions.transaction(write=True) as s:
            self._release(s, image_id)

    def release_all(self) -> None:
        """Let go of every claim of this user (the app closes)."""
        with self._sessions.transaction(write=True) as s:
            s.execute(delete(Claim).where(Claim.user_name == self._sessions.user))

    def held_by_others(self, image_ids: Iterable[int] | None = None) -> dict[int, ClaimRow]:
        """The claims other users hold now (not expired), by image id; only of
        ``image_ids`` when given."""
        with self._sessions.transaction() as s:
            return self._held_by_others(s, image_ids)
