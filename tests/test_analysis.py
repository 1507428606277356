"""Pareto front, seed statistics, hyperparameter importances and folder checks on hand-made input."""

import json

import numpy as np
import pandas as pd
import pytest

from tune_cifar.analysis import (
    AnalysisError,
    choose_metric,
    hyperparameter_columns,
    hyperparameter_importances,
    load_experiments,
    pareto_front,
    variant_statistics,
)
from tune_cifar.results import ExperimentError, flatten_config, resolve_experiment_dir, trial_state


def test_pareto_front_hand_made_table():
    table = pd.DataFrame(
        {
            "name": ["a", "b", "c", "d", "e", "f"],
            "params": [100, 200, 300, 300, 400, np.nan],
            "test_accuracy": [0.50, 0.60, 0.55, 0.70, 0.70, 0.99],
        }
    )
    front = pareto_front(table, "params", "test_accuracy")
    # c is dominated by b (cheaper, more accurate), e by d (same accuracy, cheaper);
    # f has no cost and can never be on the front.
    assert list(table.loc[front, "name"]) == ["a", "b", "d"]


def test_pareto_front_ties_stay_on_front():
    table = pd.DataFrame({"params": [100, 100], "test_accuracy": [0.5, 0.5]})
    assert pareto_front(table, "params", "test_accuracy").tolist() == [True, True]


def test_variant_statistics_seed_results():
    trials = pd.DataFrame(
        {
            "name": ["q4", "q4", "q4", "original", "original", "search"],
            "practice": [True, True, True, True, True, False],
            "test_accuracy": [0.70, 0.72, 0.74, 0.65, np.nan, 0.9],
            "params": [262_570] * 3 + [1_626_442] * 2 + [5],
            "wall_time_s": [10.0, 12.0, 14.0, 5.0, 6.0, 1.0],
            "epochs_run": [3, 4, 5, 2, 2, 1],
        }
    )
    table = variant_statistics(trials, "test_accuracy")
    assert list(table.index) == ["original", "q4"]
    assert table.loc["q4", "seeds"] == 3
    assert table.loc["q4", "mean"] == pytest.approx(0.72)
    assert table.loc["q4", "std"] == pytest.approx(0.02)
    assert table.loc["original", "seeds"] == 1
    assert np.isnan(table.loc["original", "std"])


def test_choose_metric():
    with_test = pd.DataFrame({"test_accuracy": [np.nan, 0.5], "val_accuracy": [0.4, 0.5]})
    without_test = pd.DataFrame({"test_accuracy": [np.nan], "val_accuracy": [0.4]})
    assert choose_metric(with_test) == "test_accuracy"
    assert choose_metric(without_test) == "val_accuracy"
    with pytest.raises(AnalysisError, match="'loss' is not one of test_accuracy, val_accuracy"):
        choose_metric(with_test, "loss")


def test_importances_find_the_parameter_that_matters():
    rng = np.random.default_rng(0)
    learning_rate = 10 ** rng.uniform(-5, -2, size=40)
    dense_units = rng.choice([64, 128, 256], size=40)
    trials = pd.DataFrame(
        {
            "config/learning_rate": learning_rate,
            "config/dense_units": dense_units,
            "config/conv_blocks.0.filters": rng.choice(["32,64", "64,128"], size=40),
            "config/training.precision": "fp32",
            # Accuracy rises with log learning rate; the other parameters are noise.
            "val_accuracy": 0.4 + 0.05 * np.log10(learning_rate) + 0.25 + rng.normal(0, 0.002, size=40),
        }
    )
    assert hyperparameter_columns(trials) == ["config/learning_rate", "config/dense_units", "config/conv_blocks.0.filters"]
    importances = hyperparameter_importances(trials, "val_accuracy")
    assert set(importances) == {"config/learning_rate", "config/dense_units", "config/conv_blocks.0.filters"}
    assert max(importances, key=importances.get) == "config/learning_rate"
    assert sum(importances.values()) == pytest.approx(1.0)


def test_importances_need_enough_trials():
    trials = pd.DataFrame({"config/a": [1, 2], "config/b": [3, 4], "val_accuracy": [0.1, 0.2]})
    assert hyperparameter_importances(trials, "val_accuracy") == {}


def test_flatten_config_nested_blocks():
    params = {
        "name": "q4",
        "seed": 1,
        "trial": {"learning_rate": 1e-4, "conv_blocks": [{"filters": [32, 64], "dropout": 0.25}] * 2},
        "training": {"precision": "fp32"},
    }
    assert flatten_config(params) == {
        "config/learning_rate": 1e-4,
        "config/conv_blocks": 2,
        "config/conv_blocks.0.filters": "32,64",
        "config/conv_blocks.0.dropout": 0.25,
        "config/conv_blocks.1.filters": "32,64",
        "config/conv_blocks.1.dropout": 0.25,
        "config/training.precision": "fp32",
    }


@pytest.mark.parametrize(
    ("last_report", "ray_status", "error_file", "expected"),
    [
        ({"completed": True, "stop_reason": "early_stopping"}, "TERMINATED", False, ("finished", "early_stopping")),
        ({"completed": True, "stop_reason": "diverged"}, None, False, ("finished", "diverged")),
        ({"completed": False}, "TERMINATED", False, ("stopped", "scheduler")),
        ({"completed": False}, "RUNNING", False, ("running", "running")),
        ({}, "PENDING", False, ("pending", "pending")),
        ({"completed": False}, "PENDING", False, ("paused", "paused")),
        ({"completed": False}, "ERROR", True, ("failed", "failed")),
        ({"completed": False}, None, True, ("failed", "failed")),
        ({"completed": False}, None, False, ("unknown", "unknown")),
    ],
)
def test_trial_state(last_report, ray_status, error_file, expected):
    assert trial_state(last_report, ray_status, error_file) == expected


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(ExperimentError, match="experiment folder not found: .*nowhere"):
        resolve_experiment_dir(tmp_path / "nowhere")


def test_empty_folder_is_reported(tmp_path):
    with pytest.raises(ExperimentError, match="is empty"):
        resolve_experiment_dir(tmp_path)


def test_non_experiment_folder_is_reported(tmp_path):
    (tmp_path / "notes.txt").write_text("not an experiment")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "result.json").write_text(json.dumps({"epoch": 1}) + "\n")
    with pytest.raises(ExperimentError, match="is not a Ray Tune experiment folder"):
        resolve_experiment_dir(tmp_path)


def test_load_experiments_all_bad_raises(tmp_path):
    with pytest.raises(AnalysisError, match="no experiment could be read: .*not found.*is empty"):
        (tmp_path / "empty").mkdir()
        load_experiments([tmp_path / "missing", tmp_path / "empty"])


def test_flatten_config_sampled_parameters():
    params = {"name": "sampled", "seed": 0, "learning_rate": 3e-4, "num_blocks": 2, "trial": {"learning_rate": 3e-4}}
    assert flatten_config(params) == {
        "config/learning_rate": 3e-4,
        "search/learning_rate": 3e-4,
        "search/num_blocks": 2,
    }


def test_importances_with_conditional_parameters():
    rng = np.random.default_rng(1)
    num_blocks = rng.choice([1, 2], size=30)
    learning_rate = 10 ** rng.uniform(-5, -2, size=30)
    trials = pd.DataFrame(
        {
            "search/learning_rate": learning_rate,
            "search/num_blocks": num_blocks,
            "search/block2_filters": np.where(num_blocks == 2, rng.choice([32, 64], size=30), np.nan),
            "config/learning_rate": learning_rate,
            "val_accuracy": 0.6 + 0.05 * np.log10(learning_rate) + rng.normal(0, 0.002, size=30),
        }
    )
    # The sampler's flat parameters win over the nested config that repeats them.
    assert hyperparameter_columns(trials) == ["search/learning_rate", "search/num_blocks", "search/block2_filters"]
    importances = hyperparameter_importances(trials, "val_accuracy")
    assert max(importances, key=importances.get) == "search/learning_rate"


def test_report_modules_do_not_import_ray():
    import subprocess
    import sys

    code = "import sys, tune_cifar.report, tune_cifar.analysis; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_seeded_variants_answer_the_practice():
    from tune_cifar.report import _seeded_practice_answers

    trials = pd.DataFrame(
        {
            "experiment": ["/runs/search"] * 3,
            "name": ["original", "q4", "sampled"],
            "practice": [False, False, False],
            "test_accuracy": [0.60, 0.70, 0.80],
            "params": [1_626_442, 262_570, 1000],
            "wall_time_s": [10.0, 20.0, 5.0],
            "epochs_run": [2, 2, 2],
        }
    )
    blocks = _seeded_practice_answers(trials, "test_accuracy")
    answers = blocks[2].items
    assert blocks[0].text == "Practice answers from the variants seeded into `search`"
    assert answers[2].startswith("**Q4 against the original**: q4 reaches 70.00% against 60.00% for original (+10.00 percentage points")
    assert "Verdict: **better**; **worth it**." in answers[2]
    assert answers[3] == "**Extra against Q3**: Not answered: extra and q3 have no test accuracy in this run."
