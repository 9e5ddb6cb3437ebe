"""What the app does because others may work on the same project: claims and new models.

The image on screen is claimed for review (:mod:`core.store.claim_records`): claimed when
shown, renewed every :data:`REFRESH` seconds while it stays (well within the lease), let go
when the annotator moves on or the project closes. Every claim and renewal also reads the
other annotators' claims, which the image list shows ("by bob"), and each renewal the
project's active model version: one that another instance trained or chose is announced
(``active_version_changed``) so that this app proposes its unreviewed images again with
it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from core.store import Project, StoreError
from core.store.claim_records import LEASE, ClaimRow
from ui.panels.image_list import ImageListModel

log = logging.getLogger(__name__)

#: Seconds between two looks at the others' claims and the active model version (the own
#: claim is renewed then too; it lasts a lease).
REFRESH = 10.0


def until(claim: ClaimRow) -> str:
    """When a claim ends, as the user reads it: local time, hours and minutes."""
    return claim.expires_at.astimezone().strftime("%H:%M")


class TeamWatch(QObject):
    """Claims the image on screen and watches what other annotators hold and trained.

    Args:
        project: the open store (its user name is who claims).
        image_model: the image list's model, which shows the others' claims.
        note: shows (a text) or hides (None) the note that someone else reviews the image
            on screen; called on every claim and renewal.
        lease: seconds a claim lasts unless renewed (renewed every :data:`REFRESH`
            seconds, or every third of a shorter lease).

    Signals:
        active_version_changed(): the project's active model version is not the one this
            app last proposed with (another instance trained or chose one).
        claims_changed(image_ids): these images were claimed or let go by others, or
            their boxes changed (by anyone), since the last look: their rows may show
            statuses and box counts that changed.
        classes_changed(): the project's classes are not the ones seen last (another
            annotator added or renamed one).
        looked(): a renewal is done (the screen may check what else changed).
    """

    active_version_changed = Signal()
    claims_changed = Signal(list)
    classes_changed = Signal()
    looked = Signal()

    def __init__(
        self,
        project: Project,
        image_model: ImageListModel,
        note: Callable[[str | None], None],
        lease: float = LEASE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.image_model = image_model
        self.note = note
        self.lease = lease
        self.shown: int | None = None
        self.others: dict[int, ClaimRow] = {}
        self._active = self._active_version()
        self._classes = project.class_records.classes()
        self._event, _ = project.box_records.images_changed_since(0)
        self.held_by_others()
        self.timer = QTimer(self)
        self.timer.setInterval(round(min(lease / 3, REFRESH) * 1000))
        self.timer.timeout.connect(self.renew)
        self.timer.start()

    def _active_version(self) -> int | None:
        active = self.project.learning_records.active_model_version()
        return None if active is None else active.id

    def take(self, image_id: int) -> ClaimRow | None:
        """Claim the image now shown (letting go of the one shown before) and show the
        note when someone else holds it; returns their claim, else None."""
        try:
            left, self.shown = self.shown, image_id
            claim = self.project.claim_records.claim(image_id, self.lease, release=left)
        except (StoreError, KeyError) as exc:  # a lost server: reviewing goes on
            log.warning("could not claim image %s: %s", image_id, exc)
            return None
        self.held_by_others()
        other = None if claim.user_name == self.project.user else claim
        self.note(
            None
            if other is None
            else f"{other.user_name} is reviewing this image (until {until(other)}): "
            "your changes may conflict with theirs"
        )
        return other

    def held_by_others(self) -> dict[int, ClaimRow]:
        """The claims of the other annotators now, also shown in the image list."""
        before = {i: c.user_name for i, c in self.others.items()}
        try:
            self.others = self.project.claim_records.held_by_others()
        except StoreError as exc:
            log.warning("could not read the claims: %s", exc)
        self.image_model.set_claims({i: (c.user_name, until(c)) for i, c in self.others.items()})
        now = {i: c.user_name for i, c in self.others.items()}
        changed = sorted(i for i in before.keys() | now.keys() if before.get(i) != now.get(i))
        if changed:
            self.claims_changed.emit(changed)
        return self.others

    def renew(self) -> None:
        """Renew the claim on the image shown, show the others' claims, and announce a
        model version made active, or classes changed, elsewhere."""
        if self.project.closed:
            return
        if self.shown is not None:
            self.take(self.shown)
        else:
            self.held_by_others()
        try:
            active = self._active_version()
            classes = self.project.class_records.classes()
            self._event, touched = self.project.box_records.images_changed_since(self._event)
        except StoreError as exc:
            log.warning("could not read the active model version and classes: %s", exc)
            return
        if touched:
            self.claims_changed.emit(touched)
        if classes != self._classes:
            self._classes = classes
            self.classes_changed.emit()
        if active != self._active:
            self._active = active
            log.info("model version %s was made active elsewhere", active)
            self.active_version_changed.emit()
        self.looked.emit()

    def note_active(self) -> None:
        """This app now proposes with the project's active model version."""
        self._active = self._active_version()

    def rename(self, name: str) -> None:
        """Claim as ``name`` from now on: this user's claims are let go under the old
        name and the image shown is claimed again under the new one (ValueError: not a
        valid user name; nothing changed)."""
        from core.store.rows import clean_user_name

        name = clean_user_name(name)
        try:
            self.project.claim_records.release_all()
        except StoreError as exc:  # they expire by themselves
            log.warning("could not release the claims: %s", exc)
        self.project.set_user(name)
        if self.shown is not None:
            self.take(self.shown)

    def stop(self) -> None:
        """Stop renewing and let go of this user's claims (the project closes)."""
        self.timer.stop()
        if self.project.closed:
            return
        try:
            self.project.claim_records.release_all()
        except StoreError as exc:  # they expire by themselves
            log.warning("could not release the claims: %s", exc)
