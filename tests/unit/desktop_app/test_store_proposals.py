"""What the worker stores of a model's proposals: the user class only when the model is
sure of it, else the class is a hint and the current class applies on accepting."""

from __future__ import annotations

import numpy as np

from core.engine.proposals import ImageProposals, Proposal
from core.services.proposal_rows import CLASS_CONFIDENCE, store_proposals


def test_a_learned_class_below_even_odds_is_only_a_hint(project, folder):
    project.register_images(["a.png"])
    image = project.image_by_path("a.png").id
    project.class_records.add_classes(["raccoon"])
    sure = Proposal((1.0, 1.0, 20.0, 20.0), 0, "raccoon", CLASS_CONFIDENCE + 0.3, "dense", 0.5)
    unsure = Proposal((30.0, 5.0, 60.0, 40.0), 0, "raccoon", CLASS_CONFIDENCE - 0.1, "dense", 0.2)
    imagenet = Proposal((2.0, 2.0, 9.0, 9.0), 3, "tabby", 0.9, "default", 0.1)
    result = ImageProposals([sure, unsure, imagenet], np.zeros((8, 8), np.float32), (64, 48))
    store_proposals(project, image, result, model_version_id=None)
    assert [(b.class_name, b.hint) for b in project.box_records.boxes(image)] == [
        (None, "raccoon"),  # zero-shot: never the user's class
        (None, "raccoon"),
        (None, "tabby"),
    ]
    version = project.learning_records.add_model_version(
        folder / "m.pt", "efficientnet_lite0", ["raccoon"], {}
    )
    store_proposals(project, image, result, model_version_id=version)
    assert [(b.class_name, b.hint) for b in project.box_records.boxes(image)] == [
        ("raccoon", None),
        (None, "raccoon"),
        (None, "tabby"),
    ]
