"""How ``project-0001-raccoon-session.db`` was made: SaliBox at commit 3c440bb (schema
revision 0001) writing what its app wrote in a raccoon session, ImageNet names included.

    git worktree add /tmp/old 3c440bb
    cd /tmp/old && PYTHONPATH=/tmp/old python /path/to/make_project_0001.py FOLDER

It must run against that old code, not this one; the test only reads the file it made.
"""

import sys

from core.store import Project

ROOT = sys.argv[1]
NAMES = ["raccoon-1.jpg", "raccoon-2.jpg", "raccoon-3.jpg"]
PROPOSAL = {"origin": "proposal", "state": "proposed", "confidence": 0.19, "method": "default"}


def proposals(name: str, *boxes: tuple[float, float, float, float]) -> list[dict]:
    return [{"class_name": name, "box": box, **PROPOSAL} for box in boxes]


with Project.open(Project.default_db_path(ROOT), ROOT) as p:
    p.register_images(NAMES)
    a, b, c = (p.image_by_path(n).id for n in NAMES)
    # The worker's zero-shot proposals, named after ImageNet classes.
    p.replace_proposals(a, proposals("Arctic fox", (10, 10, 200, 150)))
    p.replace_proposals(b, proposals("timber wolf", (5, 5, 100, 90), (120, 20, 180, 80)))
    p.replace_proposals(c, proposals("toy terrier", (1, 1, 50, 50)))
    # Proposed again after a model change: "toy terrier" is left without a box.
    p.replace_proposals(c, proposals("kit fox", (2, 2, 60, 60)))
    p.ensure_class("raccoon")  # typed in the Class box
    # Space on raccoon-1's proposal: relabelled to the class box, then accepted.
    first = p.boxes(a)[0].id
    p.edit_box(first, class_name="raccoon")
    p.accept_box(first)
    # A dragged handle on raccoon-2: the box kept "timber wolf" (edited).
    p.edit_box(p.boxes(b)[0].id, box=(6, 6, 110, 95))
    p.reject_box(p.boxes(b)[1].id)
    # A drawn box, and one drawn and deleted (its id must stay unused).
    p.add_box(c, "raccoon", (70, 70, 140, 140))
    p.delete_box(p.add_box(c, "raccoon", (1, 1, 9, 9)))
    p.set_status(a, "done")
    p.set_status(b, "done")
    p.set_status(c, "in_review")
    print(p.classes())
