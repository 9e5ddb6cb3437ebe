"""One annotator's review loop in a process of its own, for the two-process review test.

Usage: ``python -m tests.helpers.reviewer LOCATION FOLDER USER CONTESTED OUT``. Opens the
project as ``USER``, writes ``OUT.ready`` and waits for ``OUT``'s folder to hold ``go`` (so
that both reviewers start together), then, like the app, claims the next image that needs review
(``claim_first``), accepts each of its proposals on the version it read, marks it done and
lets go, until no image is left. Between images it also moves the box of the image
``CONTESTED`` (an id) that both annotators edit without claiming it, on the version it
read a moment before: each such edit is saved or refused with StaleBoxError, never lost.
Writes what it did as JSON to ``OUT``: the images reviewed, the boxes accepted, and the
contested box's versions its saved and its refused edits were made on.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from core.store import Project, StaleBoxError

NEEDS_REVIEW = ("new", "proposed", "in_review")


def review(location: str, folder: str, user: str, contested: int, out: Path) -> None:
    done: dict[str, list[int]] = {"reviewed": [], "accepted": [], "saved_on": [], "refused": []}
    rng = random.Random(user)
    with Project.open(location, folder, user=user) as project:
        out.with_suffix(".ready").touch()
        while not (out.parent / "go").exists():
            time.sleep(0.01)
        while True:
            waiting = [
                r.id
                for r in project.images(order_by="path")
                if r.status in NEEDS_REVIEW and r.id != contested
            ]
            image = project.claim_records.claim_first(waiting, statuses=NEEDS_REVIEW)
            if image is None:
                break
            for box in project.box_records.boxes(image, states=["proposed"]):
                project.box_records.accept_box(box.id, class_name="cell", seen=box.version)
                done["accepted"].append(box.id)
            project.set_status(image, "done")
            project.claim_records.release(image)
            done["reviewed"].append(image)
            (shown,) = project.box_records.boxes(contested)
            time.sleep(rng.uniform(0.005, 0.03))  # the annotator drags the box meanwhile
            x = rng.uniform(0, 10)
            try:
                project.box_records.edit_box(shown.id, (x, x, x + 20, x + 20), seen=shown.version)
                done["saved_on"].append(shown.version)
            except StaleBoxError:
                done["refused"].append(shown.version)
    out.write_text(json.dumps(done))


if __name__ == "__main__":
    location, folder, user, contested, out = sys.argv[1:6]
    review(location, folder, user, int(contested), Path(out))
