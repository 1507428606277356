"""Trial configuration: the architecture and training hyperparameters of one trial.

A config travels through Ray Tune as a plain dict (see ``TrialConfig.to_dict``), so
``TrialConfig.from_dict`` is the single place where such a dict is validated. Every
error names where the dict came from (a file and variant, or a command-line option),
the key, the bad value and the allowed range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

# Keras's RMSprop defaults (tf.keras.optimizers.RMSprop, TF 2.x), used by every trial.
RMSPROP_RHO = 0.9
RMSPROP_EPSILON = 1e-7

# Keras's fit(validation_split=0.2): the last 20% of the training arrays.
VALIDATION_FRACTION = 0.2

IMAGE_SIZE = 32
NUM_CLASSES = 10


class ConfigError(ValueError):
    """Raised for an invalid trial config; the message names the source, key and fix."""


@dataclass(frozen=True)
class ConvBlock:
    """One conv block: 3x3 'valid' convolutions with ReLU, then a 2x2 max-pool."""

    filters: tuple[int, ...]
    """Output channels of each 3x3 convolution, in order."""
    dropout: float = 0.0
    """Dropout rate after the max-pool; 0 adds no dropout layer."""


@dataclass(frozen=True)
class ModelConfig:
    """A CNN: conv blocks, flatten, one hidden dense layer, 10-way softmax output."""

    conv_blocks: tuple[ConvBlock, ...]
    dense_units: int
    """Width of the hidden dense layer (ReLU)."""
    dense_dropout: float = 0.0
    """Dropout rate after the hidden dense layer; 0 adds no dropout layer."""


@dataclass(frozen=True)
class TrialConfig:
    """Everything that defines one trial's training, apart from the seed and the data."""

    model: ModelConfig
    learning_rate: float
    """RMSprop learning rate."""
    batch_size: int
    """Images per gradient step."""
    max_epochs: int
    """Upper bound on epochs; early stopping may end the trial sooner."""
    patience: int | None = 1
    """Keras EarlyStopping patience on val_loss in epochs; None turns early stopping off."""

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-compatible types, the form Ray Tune carries."""
        config = asdict(self)
        model = config.pop("model")
        model["conv_blocks"] = [
            {"filters": list(block["filters"]), "dropout": block["dropout"]}
            for block in model["conv_blocks"]
        ]
        return {**model, **config}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "trial config") -> "TrialConfig":
        """Validate ``values`` (the ``to_dict`` layout) and build a config.

        ``source`` names where the values came from, for example
        ``"search_spaces/practice.yaml, variant 'q1'"``; it starts every error message.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a mapping of config keys, got {values!r}")
        unknown = sorted(set(values) - set(CONFIG_KEYS))
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys are {', '.join(CONFIG_KEYS)}"
            )
        missing = [key for key in REQUIRED_KEYS if key not in values]
        if missing:
            raise ConfigError(f"{source}: missing key(s) {', '.join(map(repr, missing))}")

        blocks = _parse_conv_blocks(values["conv_blocks"], source)
        model = ModelConfig(
            conv_blocks=blocks,
            dense_units=_positive_int(values["dense_units"], source, "dense_units"),
            dense_dropout=_dropout(values.get("dense_dropout", 0.0), source, "dense_dropout"),
        )
        _check_spatial_size(model, source)
        patience = values.get("patience", 1)
        if patience is not None:
            patience = _non_negative_int(patience, source, "patience")
        return cls(
            model=model,
            learning_rate=_learning_rate(values["learning_rate"], source),
            batch_size=_positive_int(values["batch_size"], source, "batch_size"),
            max_epochs=_positive_int(values["max_epochs"], source, "max_epochs"),
            patience=patience,
        )

    def with_epoch_cap(self, cap: int | None) -> "TrialConfig":
        """Return a copy whose max_epochs is at most ``cap`` (None leaves it unchanged)."""
        if cap is None or cap >= self.max_epochs:
            return self
        return TrialConfig(
            model=self.model,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_epochs=cap,
            patience=self.patience,
        )


CONFIG_KEYS = (
    "conv_blocks",
    "dense_units",
    "dense_dropout",
    "learning_rate",
    "batch_size",
    "max_epochs",
    "patience",
)
REQUIRED_KEYS = ("conv_blocks", "dense_units", "learning_rate", "batch_size", "max_epochs")


def _parse_conv_blocks(raw: Any, source: str) -> tuple[ConvBlock, ...]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ConfigError(
            f"{source}: key 'conv_blocks' must be a non-empty list of blocks such as "
            f"{{filters: [32, 64], dropout: 0.25}}, got {raw!r}"
        )
    blocks = []
    for index, block in enumerate(raw):
        where = f"conv_blocks[{index}]"
        if not isinstance(block, Mapping):
            raise ConfigError(f"{source}: key '{where}' must be a mapping with 'filters', got {block!r}")
        unknown = sorted(set(block) - {"filters", "dropout"})
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))} in '{where}'; "
                "valid keys are filters, dropout"
            )
        filters = block.get("filters")
        if not isinstance(filters, (list, tuple)) or not filters:
            raise ConfigError(
                f"{source}: key '{where}.filters' must be a non-empty list of channel counts, "
                f"got {filters!r}"
            )
        channels = tuple(_positive_int(f, source, f"{where}.filters") for f in filters)
        dropout = _dropout(block.get("dropout", 0.0), source, f"{where}.dropout")
        blocks.append(ConvBlock(filters=channels, dropout=dropout))
    return tuple(blocks)


def _check_spatial_size(model: ModelConfig, source: str) -> None:
    """Reject architectures whose feature map shrinks to nothing before the dense layer."""
    size = IMAGE_SIZE
    for block in model.conv_blocks:
        size -= 2 * len(block.filters)  # each 3x3 'valid' conv trims one pixel per side
        size //= 2  # 2x2 max-pool, floor as Keras does
        if size < 1:
            raise ConfigError(
                f"{source}: key 'conv_blocks' shrinks the 32x32 input below 1x1 "
                f"({len(model.conv_blocks)} blocks, {sum(len(b.filters) for b in model.conv_blocks)} "
                "convolutions); use fewer blocks or fewer convolutions per block"
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any, source: str, key: str) -> int:
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{source}: key '{key}' must be an integer >= 1, got {value!r}")
    return value


def _non_negative_int(value: Any, source: str, key: str) -> int:
    if not _is_int(value) or value < 0:
        raise ConfigError(
            f"{source}: key '{key}' must be an integer >= 0 (or null to turn it off), got {value!r}"
        )
    return value


def _dropout(value: Any, source: str, key: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{source}: key '{key}' must be a dropout rate in [0, 1), got {value!r}")
    return float(value)


def _learning_rate(value: Any, source: str) -> float:
    if isinstance(value, str):
        # PyYAML follows YAML 1.1, which reads 1e-3 (no dot) as a string.
        raise ConfigError(
            f"{source}: key 'learning_rate' must be a number > 0, got the string {value!r}; "
            "in YAML write 1.0e-3 rather than 1e-3"
        )
    valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not valid or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{source}: key 'learning_rate' must be a number > 0 such as 1.0e-3, got {value!r}"
        )
    return float(value)
