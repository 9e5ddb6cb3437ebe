"""The retraining cadence grows with the labelled set."""

from itertools import pairwise

from core.learning.cadence import retrain_due


def trainings_over(boxes: int, per_image: int, every: int = 10) -> list[int]:
    """The box counts at which a session of ``per_image`` boxes per image trains."""
    trained_on, out = 0, []
    for accepted in range(per_image, boxes + 1, per_image):
        if retrain_due(accepted, trained_on, every):
            out.append(accepted)
            trained_on = accepted
    return out


def test_a_fixed_step_while_the_set_is_small_then_a_share():
    assert not retrain_due(9, 0, 10)
    assert retrain_due(10, 0, 10)
    assert retrain_due(50, 40, 10)
    assert not retrain_due(95, 80, 10)  # 15 more, but 25 % of 80 is 20
    assert retrain_due(100, 80, 10)


def test_many_objects_per_image_train_a_few_dozen_times_not_hundreds():
    times = trainings_over(3000, per_image=8)
    assert 15 <= len(times) <= 30  # a fixed step of 10 would train 300 times
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps == sorted(gaps)


def test_zero_means_only_on_demand():
    assert not retrain_due(1000, 0, 0)
