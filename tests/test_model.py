import pytest
import torch

from tune_cifar.model import build_model, count_parameters, format_summary, summarize
from tune_cifar.practice import load_variants

# Totals of the lecture's Keras model.summary() for each variant.
EXPECTED_PARAMS = {
    "original": 1_626_442,
    "q1": 1_626_442,
    "q2": 1_626_442,
    "q3": 1_626_442,
    "q4": 262_570,
    "extra": 6_447_562,
}


@pytest.fixture(scope="module")
def variants():
    return load_variants()


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_totals(variants, name):
    model = build_model(variants[name].config.model)
    assert count_parameters(model) == EXPECTED_PARAMS[name]
    assert sum(row.params for row in summarize(variants[name].config.model)) == EXPECTED_PARAMS[name]


def test_summary_rows_original(variants):
    rows = summarize(variants["original"].config.model)
    assert [(r.layer, r.output_shape, r.params) for r in rows] == [
        ("conv2d (Conv2D)", (30, 30, 32), 896),
        ("conv2d_1 (Conv2D)", (28, 28, 64), 18_496),
        ("max_pooling2d (MaxPooling2D)", (14, 14, 64), 0),
        ("flatten (Flatten)", (12_544,), 0),
        ("dense (Dense)", (128,), 1_605_760),
        ("dense_1 (Dense)", (10,), 1_290),
    ]


def test_summary_rows_q4_dropout_layers(variants):
    rows = summarize(variants["q4"].config.model)
    layers = [r.layer.split(" ")[0] for r in rows]
    assert layers == [
        "conv2d", "conv2d_1", "max_pooling2d", "dropout",
        "conv2d_2", "conv2d_3", "max_pooling2d_1", "dropout_1",
        "flatten", "dense", "dropout_2", "dense_1",
    ]
    assert rows[6].output_shape == (5, 5, 64)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_summary_text_total(variants, name):
    text = format_summary(variants[name].config.model, name)
    assert f"Total params: {EXPECTED_PARAMS[name]:,}" in text


def test_keras_initialisation(variants):
    torch.manual_seed(0)
    model = build_model(variants["original"].config.model)
    conv = model[0]
    # Glorot uniform: limit = sqrt(6 / (fan_in + fan_out)), fan = kernel area x channels.
    limit = (6 / (3 * 9 + 32 * 9)) ** 0.5
    assert conv.weight.abs().max() <= limit
    assert conv.weight.abs().max() > 0.9 * limit
    assert torch.count_nonzero(conv.bias) == 0


def test_same_seed_same_weights(variants):
    config = variants["q4"].config.model
    torch.manual_seed(3)
    first = build_model(config).state_dict()
    torch.manual_seed(3)
    second = build_model(config).state_dict()
    torch.manual_seed(4)
    third = build_model(config).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["0.weight"], third["0.weight"])


def test_forward_shape(variants):
    model = build_model(variants["extra"].config.model)
    assert model(torch.zeros(4, 3, 32, 32)).shape == (4, 10)
