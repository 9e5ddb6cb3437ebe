"""Child process of the crash test: adds and accepts boxes until it is killed.

Usage: ``python tests/helpers/crash_child.py DB``. Prints each box id after ``accept_box`` returned,
so every printed id must be in the database, accepted, whatever moment the kill comes.
"""

from __future__ import annotations

import sys

from core.store import Project


def main() -> None:
    project = Project.open(sys.argv[1])
    image_id = project.images(limit=1)[0].id
    i = 0
    while True:
        i += 1
        box_id = project.box_records.add_box(
            image_id, "cat", (0, 0, i, i), origin="proposal", state="proposed", method="x" * 500
        )
        project.box_records.accept_box(box_id)
        print(box_id, flush=True)


if __name__ == "__main__":
    main()
