import math

import pytest

from tune_cifar.early_stopping import EarlyStopping


def run(patience, losses):
    """Feed val_loss values; return the 1-based epoch at which training stops, or None."""
    rule = EarlyStopping(patience)
    for epoch, loss in enumerate(losses):
        if rule.update(epoch, loss):
            return epoch + 1
    return None


@pytest.mark.parametrize(
    "patience, losses, stop_epoch",
    [
        (1, [1.0, 0.9, 0.8, 0.85, 0.7], 4),  # first epoch without improvement stops
        (1, [1.0, 1.0], 2),  # equal is not an improvement (min_delta=0)
        (1, [1.0, 0.9, 0.8, 0.7], None),  # always improving: runs out of epochs
        (2, [1.0, 1.1, 0.9, 1.0, 1.2], 5),  # two in a row needed
        (2, [1.0, 1.1, 0.9, 0.95, 0.8], None),  # a new best resets the count
        (0, [1.0, 1.1], 2),
        (1, [1.0, math.nan], 2),  # NaN never improves
    ],
)
def test_stop_epoch(patience, losses, stop_epoch):
    assert run(patience, losses) == stop_epoch


def test_best_is_tracked():
    rule = EarlyStopping(3)
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.6]):
        rule.update(epoch, loss)
    assert rule.best == 0.5
    assert rule.best_epoch == 1
    assert rule.wait == 2


def test_state_round_trip():
    rule = EarlyStopping(2)
    rule.update(0, 1.0)
    rule.update(1, 1.2)
    restored = EarlyStopping.from_state_dict(rule.state_dict())
    assert restored.update(2, 1.3) is True
