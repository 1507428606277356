"""The CNN family of the practice, built from a ``ModelConfig``, with a Keras-style summary.

The layers mirror the lecture's Keras model: 3x3 'valid' convolutions with ReLU, 2x2
max-pooling, optional dropout, flatten, one hidden dense layer with ReLU, optional
dropout and a 10-way output. The output layer returns logits; the softmax is folded into
the cross-entropy loss, which is the numerically stable form of Keras's softmax plus
categorical cross-entropy. Weights use Keras's defaults: Glorot-uniform kernels and zero
biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tune_cifar.config import IMAGE_SIZE, NUM_CLASSES, ModelConfig


def build_model(config: ModelConfig, in_channels: int = 3) -> nn.Sequential:
    """Build the network for ``config``, initialised as Keras initialises it."""
    layers: list[nn.Module] = []
    channels = in_channels
    for block in config.conv_blocks:
        for filters in block.filters:
            layers += [nn.Conv2d(channels, filters, kernel_size=3), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
        if block.dropout > 0:
            layers.append(nn.Dropout(block.dropout))

    layers.append(nn.Flatten())
    flat_features = channels * feature_map_size(config) ** 2
    layers += [nn.Linear(flat_features, config.dense_units), nn.ReLU()]
    if config.dense_dropout > 0:
        layers.append(nn.Dropout(config.dense_dropout))
    layers.append(nn.Linear(config.dense_units, NUM_CLASSES))

    model = nn.Sequential(*layers)
    model.apply(_keras_init)
    return model


def feature_map_size(config: ModelConfig) -> int:
    """Return the side of the square feature map that reaches the flatten layer."""
    size = IMAGE_SIZE
    for block in config.conv_blocks:
        size = (size - 2 * len(block.filters)) // 2
    return size


def _keras_init(module: nn.Module) -> None:
    # torch's xavier_uniform_ uses the same fan-in and fan-out as Keras's GlorotUniform
    # for both Conv2D (kernel area x channels) and Dense layers.
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters, the figure Keras's summary totals."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class SummaryRow:
    """One line of a Keras-style model summary."""

    layer: str
    output_shape: tuple[int, ...]
    """Output shape without the batch axis, channels last as Keras prints it."""
    params: int


def summarize(config: ModelConfig) -> list[SummaryRow]:
    """Return one row per layer with its Keras-style output shape and parameter count."""
    model = build_model(config)
    rows = []
    shape = (3, IMAGE_SIZE, IMAGE_SIZE)
    counters: dict[str, int] = {}
    with torch.no_grad():
        activation = torch.zeros(1, *shape)
        for module in model:
            activation = module(activation)
            if isinstance(module, nn.ReLU):
                continue  # Keras fuses the activation into Conv2D and Dense
            kind = _KERAS_NAMES[type(module)]
            counters[kind] = counters.get(kind, 0) + 1
            name = kind if counters[kind] == 1 else f"{kind}_{counters[kind] - 1}"
            out = tuple(activation.shape[1:])
            if len(out) == 3:
                out = (out[1], out[2], out[0])  # NCHW -> HWC, Keras's order
            params = sum(p.numel() for p in module.parameters())
            rows.append(SummaryRow(layer=f"{name} ({_KERAS_CLASSES[kind]})", output_shape=out, params=params))
    return rows


_KERAS_NAMES = {
    nn.Conv2d: "conv2d",
    nn.MaxPool2d: "max_pooling2d",
    nn.Dropout: "dropout",
    nn.Flatten: "flatten",
    nn.Linear: "dense",
}
_KERAS_CLASSES = {
    "conv2d": "Conv2D",
    "max_pooling2d": "MaxPooling2D",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "dense": "Dense",
}


def format_summary(config: ModelConfig, title: str = "Model") -> str:
    """Render ``summarize(config)`` as a text table like Keras's ``model.summary()``."""
    rows = summarize(config)
    total = sum(row.params for row in rows)
    width_layer = max(28, *(len(row.layer) for row in rows)) + 2
    width_shape = 22
    rule = "=" * (width_layer + width_shape + 12)
    lines = [f'Model: "{title}"', rule]
    lines.append(f"{'Layer (type)':<{width_layer}}{'Output Shape':<{width_shape}}{'Param #':>12}")
    lines.append(rule)
    for row in rows:
        shape = "(None, " + ", ".join(str(d) for d in row.output_shape) + ")"
        lines.append(f"{row.layer:<{width_layer}}{shape:<{width_shape}}{row.params:>12,}")
    lines.append(rule)
    lines.append(f"Total params: {total:,}")
    lines.append(f"Trainable params: {total:,}")
    lines.append("Non-trainable params: 0")
    return "\n".join(lines)
