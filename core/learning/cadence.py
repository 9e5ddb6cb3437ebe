"""When a new model version is worth training: a cadence that grows with the labelled set.

A fixed step (a version every 10 accepted boxes) retrains after every image or two on
images with 7–14 objects, each training with a cross-validation, so that training time
grows with the square of the session. The step here is the larger of a fixed number of
boxes and a share of the boxes the last version was trained on: 10 boxes at first, then
every 25 % more (10, 20, 30, 40, 50, 62, 78, …), about 26 versions for 3,000 boxes
instead of 300.
"""

from __future__ import annotations

#: Train again once the accepted boxes grew by this share of the last training's boxes
#: (or by the fixed step, whichever is larger).
GROWTH = 0.25


def retrain_due(accepted: int, trained_on: int, every: int, growth: float = GROWTH) -> bool:
    """Whether ``accepted`` boxes call for a new version when the last one was trained on
    ``trained_on`` (0: none yet); ``every`` ≤ 0 means only on demand."""
    if every <= 0:
        return False
    return accepted - trained_on >= max(every, growth * trained_on)
