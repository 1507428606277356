"""Search space files: parsing, the define-by-run sampling through real Optuna, and every validation error."""

import textwrap

import optuna
import pytest

from tune_cifar.config import ConfigError, TrialConfig
from tune_cifar.practice import load_variants
from tune_cifar.search_space import OPEN_SPACE_FILE, load_space

BASE = """\
parameters:
  num_blocks: {distribution: int, low: 1, high: 2}
  block1_filters1: {distribution: categorical, choices: [16, 32]}
  block1_filters2: {distribution: categorical, choices: [32, 64]}
  block1_dropout: {distribution: float, low: 0.0, high: 0.5}
  block2_filters1: {distribution: categorical, choices: [16, 32]}
  block2_filters2: {distribution: categorical, choices: [32, 64]}
  block2_dropout: {distribution: float, low: 0.0, high: 0.5}
  dense_units: {distribution: categorical, choices: [64, 128, 512]}
  dense_dropout: {distribution: float, low: 0.0, high: 0.6}
  learning_rate: {distribution: float, low: 1.0e-5, high: 1.0e-2, log: true}
  batch_size: {distribution: categorical, choices: [32, 100]}
  max_epochs: {distribution: int, low: 1, high: 100}
fixed:
  patience: 1
seeded_variants: [original, q4]
"""


def write_space(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_open_space_seeds_all_variants():
    space = load_space(OPEN_SPACE_FILE)
    assert list(space.seeded) == ["original", "q1", "q2", "q3", "q4", "extra"]
    assert space.block_convs == (2, 2)
    assert "block2_filters1" in space.seeded["q4"]
    assert "block2_filters1" not in space.seeded["q3"]


def test_open_space_covers_issue_parameters():
    space = load_space(OPEN_SPACE_FILE)
    for name in ("block1_dropout", "block2_dropout", "dense_dropout", "learning_rate", "batch_size",
                 "dense_units", "num_blocks", "block1_filters1", "block2_filters2", "max_epochs"):
        assert name in space.parameters, name
    assert space.parameters["learning_rate"].log


def test_seeded_points_come_first_with_their_configs(tmp_path):
    space = load_space(write_space(tmp_path, BASE)).with_epoch_cap(3)
    variants = load_variants()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    for point in space.points_to_evaluate():
        study.enqueue_trial(point)

    sampled = []
    for _ in range(6):
        trial = study.ask()
        sampled.append(space(trial))
        study.tell(trial, 0.5)

    assert [s["name"] for s in sampled[:2]] == ["original", "q4"]
    for result in sampled[:2]:
        expected = variants[result["name"]].config.with_epoch_cap(3).to_dict()
        assert result["trial"] == expected
    assert all(s["name"] == "sampled" for s in sampled[2:])


def test_sampled_configs_respect_num_blocks(tmp_path):
    space = load_space(write_space(tmp_path, BASE.replace("seeded_variants: [original, q4]", "seeded_variants: []")))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_blocks = set()
    for _ in range(20):
        trial = study.ask()
        result = space(trial)
        blocks = trial.params["num_blocks"]
        seen_blocks.add(blocks)
        assert len(result["trial"]["conv_blocks"]) == blocks
        assert ("block2_filters1" in trial.params) == (blocks == 2)
        TrialConfig.from_dict(result["trial"])
        study.tell(trial, 0.0)
    assert seen_blocks == {1, 2}


def test_epoch_cap_applies_to_samples(tmp_path):
    space = load_space(write_space(tmp_path, BASE)).with_epoch_cap(2)
    result = space(optuna.trial.FixedTrial({**space.seeded["q4"], "max_epochs": 80}))
    assert result["trial"]["max_epochs"] == 2
    assert result["name"] == "sampled"


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("fixed:", "fixd:", ["unknown top-level key(s) 'fixd'", "valid keys are parameters, fixed, seeded_variants"]),
        ("  dense_units:", "  dense_width:", ["unknown key 'dense_width'", "valid parameters are"]),
        ("dense_units: {distribution: categorical", "dense_units: {distribution: normal", ["'parameters.dense_units.distribution' is 'normal', an unknown distribution", "valid distributions are categorical, float, int"]),
        ("high: 0.6}", "high: 0.6, scale: 2}", ["unknown key(s) 'scale' in 'parameters.dense_dropout'", "takes distribution, low, high, log, step"]),
        ("low: 0.0, high: 0.6", "low: 0.7, high: 0.6", ["'parameters.dense_dropout' has low 0.7 above high 0.6", "swap them"]),
        ("low: 1.0e-5, high: 1.0e-2, log: true", "low: 0.0, high: 1.0e-2, log: true", ["'parameters.learning_rate' is log scale but its low bound is 0.0", "needs low > 0"]),
        ("low: 1.0e-5, high: 1.0e-2, log: true", "low: -1.0, high: 1.0e-2, log: true", ["low bound is -1.0"]),
        ("choices: [32, 100]", "choices: []", ["'parameters.batch_size.choices' must be a non-empty list", "list at least one value"]),
        ("low: 1.0e-5, high: 1.0e-2", "low: 1e-5, high: 1.0e-2", ["'parameters.learning_rate.low' must be a number", "1.0e-3"]),
        ("  max_epochs: {distribution: int, low: 1, high: 100}\n", "", ["missing key(s) 'max_epochs'", "add each under 'parameters' or 'fixed'"]),
        ("num_blocks: {distribution: int, low: 1, high: 2}", "num_blocks: {distribution: int, low: 1, high: 3}", ["'parameters.num_blocks' must be an int or categorical distribution within [1, 2]"]),
        ("[original, q4]", "[original, q9]", ["'seeded_variants' names unknown variant(s) 'q9'", "choose from original, q1"]),
    ],
)
def test_invalid_space_is_rejected(tmp_path, old, new, expected):
    assert old in BASE
    path = write_space(tmp_path, BASE.replace(old, new))
    with pytest.raises(ConfigError) as error:
        load_space(path)
    message = str(error.value)
    assert message.startswith(str(path)), message
    for fragment in expected:
        assert fragment in message


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("low: 1.0e-5, high: 1.0e-2", "low: 1.0e-5, high: 5.0e-4", "seeded variant 'original' is outside the space: key 'learning_rate' is 0.001, not in [1e-05, 0.0005], log scale"),
        ("num_blocks: {distribution: int, low: 1, high: 2}", "num_blocks: {distribution: int, low: 1, high: 1}", "seeded variant 'q4' is outside the space: key 'num_blocks' is 2, not in [1, 1]"),
        ("  patience: 1", "  patience: 2", "seeded variant 'original' is outside the space: key 'patience' is 1, but the space fixes it at 2"),
        ("choices: [64, 128, 512]", "choices: [64, 512]", "seeded variant 'original' is outside the space: key 'dense_units' is 128, not one of [64, 512]"),
        ("  block1_filters2: {distribution: categorical, choices: [32, 64]}\n  block1_dropout",
         "  block1_filters2: {distribution: categorical, choices: [32, 64]}\n  block1_filters3: {distribution: categorical, choices: [32]}\n  block1_dropout",
         "seeded variant 'original' is outside the space: its block 1 has 2 convolutions, the space's block 1 has 3"),
    ],
)
def test_seeded_point_outside_space_is_rejected(tmp_path, old, new, expected):
    assert old in BASE
    path = write_space(tmp_path, BASE.replace(old, new))
    with pytest.raises(ConfigError) as error:
        load_space(path)
    assert expected in str(error.value)
    assert "widen the space or drop" in str(error.value)


def test_missing_space_file(tmp_path):
    with pytest.raises(ConfigError, match="search space file not found: .*nowhere.yaml; pass an existing YAML file to --space"):
        load_space(tmp_path / "nowhere.yaml")


def test_space_without_seeds(tmp_path):
    space = load_space(write_space(tmp_path, BASE.replace("[original, q4]", "[]")))
    assert space.points_to_evaluate() == []
