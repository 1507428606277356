"""Keras's EarlyStopping(monitor='val_loss') rule, without Keras.

Keras (tf.keras 2.x and Keras 3) counts an epoch as an improvement only when the monitored
value is strictly below the best so far (min_delta=0). It stops after ``patience``
epochs in a row without improvement and, with the default restore_best_weights=False,
keeps the last epoch's weights. With patience=1 the run stops at the first epoch whose
val_loss does not beat the best one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class EarlyStopping:
    """Track val_loss epoch by epoch and report when Keras would stop training."""

    patience: int
    best: float = math.inf
    best_epoch: int = -1
    wait: int = 0
    stopped_epoch: int | None = None

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record ``val_loss`` of ``epoch`` (0-based); return True when training should stop."""
        if val_loss < self.best:
            self.best = val_loss
            self.best_epoch = epoch
            self.wait = 0
            return False
        # NaN compares false, so a NaN val_loss also counts as no improvement.
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> dict:
        """Return the counters a checkpoint needs to resume the rule exactly."""
        return {
            "patience": self.patience,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "EarlyStopping":
        return cls(**state)
