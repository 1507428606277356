"""The search command end to end on tiny generated data, through a real local Ray and real Optuna."""

import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import write_cifar_folder
from tests.process_tree import kill_tree
from tune_cifar import retrain, search
from tune_cifar.practice import load_variants
from tune_cifar.search_space import load_space

TINY_SPACE = """\
parameters:
  num_blocks: {distribution: int, low: 1, high: 2}
  block1_filters1: {distribution: categorical, choices: [8, 32]}
  block1_filters2: {distribution: categorical, choices: [16, 64]}
  block1_dropout: {distribution: float, low: 0.0, high: 0.5}
  block2_filters1: {distribution: categorical, choices: [8, 32]}
  block2_filters2: {distribution: categorical, choices: [16, 64]}
  block2_dropout: {distribution: float, low: 0.0, high: 0.5}
  dense_units: {distribution: categorical, choices: [32, 128]}
  dense_dropout: {distribution: float, low: 0.0, high: 0.5}
  learning_rate: {distribution: float, low: 1.0e-4, high: 1.0e-2, log: true}
  batch_size: {distribution: categorical, choices: [32, 100]}
  max_epochs: {distribution: categorical, choices: [20, 100]}
fixed:
  patience: 1
seeded_variants: [original, q4]
"""

DIVERGING_SPACE = """\
parameters:
  dense_units: {distribution: categorical, choices: [16, 32]}
fixed:
  block1_filters1: 8
  learning_rate: 1.0e+12
  batch_size: 32
  max_epochs: 3
  patience: null
seeded_variants: []
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    data_dir = write_cifar_folder(root / "data", n_train_per_class=10, n_test_per_class=2)
    (root / "tiny.yaml").write_text(TINY_SPACE)
    (root / "diverging.yaml").write_text(DIVERGING_SPACE)
    return root, data_dir


def base_args(root, data_dir, name, space="tiny.yaml"):
    return [
        "--space", str(root / space),
        "--data-dir", str(data_dir),
        "--cache-dir", str(root / "cache"),
        "--storage-path", str(root / "runs"),
        "--name", name,
        "--cpus-per-trial", "1",
        "--max-epochs", "2",
        "--seed", "3",
    ]


def run_search(argv):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = search.main(argv)
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module; the search command reuses it."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def finished_search(workspace, local_ray):
    root, data_dir = workspace
    code, output = run_search(base_args(root, data_dir, "tiny") + ["--num-samples", "4"])
    return code, output, root / "runs" / "tiny"


@pytest.mark.ray
def test_search_succeeds(finished_search):
    code, output, experiment = finished_search
    assert code == 0, output
    results = pd.read_csv(experiment / "results.csv")
    assert len(results) == 4
    assert set(results["status"]) <= {"finished", "stopped"}
    assert sorted(results.loc[results["seeded"], "name"]) == ["original", "q4"]
    assert (results["epochs"] <= 2).all()
    assert "best practice variant: " in output
    assert "Pareto set (val_accuracy (max) vs params (min))" in output
    assert (experiment / "pareto.csv").is_file()


@pytest.mark.ray
def test_seeded_points_run_first(finished_search):
    _, _, experiment = finished_search
    state_files = list(experiment.glob("searcher-state-*.pkl"))
    assert len(state_files) == 1
    state = pickle.loads(state_files[0].read_bytes())
    trials = sorted(state["_ot_study"].get_trials(deepcopy=False), key=lambda trial: trial.number)
    assert len(trials) == 4
    space = load_space(Path(experiment.parent.parent / "tiny.yaml"))
    assert trials[0].params == space.seeded["original"]
    assert trials[1].params == space.seeded["q4"]


@pytest.mark.ray
@pytest.mark.parametrize("variant", ["original", "q4"])
def test_seeded_trials_carry_configs(finished_search, variant):
    _, _, experiment = finished_search
    folders = list(experiment.glob(f"{variant}_*/params.json"))
    assert len(folders) == 1
    params = json.loads(folders[0].read_text())
    assert params["trial"] == load_variants()[variant].config.with_epoch_cap(2).to_dict()
    assert params["seed"] == 3


@pytest.mark.ray
def test_trial_folders_have_meta(finished_search):
    _, _, experiment = finished_search
    metas = [json.loads(path.read_text()) for path in experiment.glob("*/trial_meta.json")]
    assert len(metas) == 4
    for meta in metas:
        assert meta["seed"] == 3
        assert set(meta["versions"]) >= {"python", "torch", "ray"}
        assert meta["data_dir"].endswith("data")
    assert len(list(experiment.glob("*/checkpoint_*/trial_meta.json"))) == 4


@pytest.mark.ray
def test_retrain_matches_trial(finished_search, capsys):
    _, _, experiment = finished_search
    trial_dir = next(experiment.glob("sampled_*"))
    assert retrain.main([str(trial_dir), "--cache-dir", str(experiment.parent.parent / "cache")]) == 0
    result = json.loads((trial_dir / "retrain.json").read_text())
    reported = retrain.read_reported_epochs(trial_dir)
    # A trial that ASHA stopped early is retrained to its own end; the common epochs must match.
    assert len(result["history"]) >= len(reported) >= 1
    assert result["largest_difference"] <= 1e-6
    assert "largest difference from the trial's result.json" in capsys.readouterr().out


@pytest.mark.ray
def test_multi_objective_pareto(workspace, local_ray):
    root, data_dir = workspace
    argv = base_args(root, data_dir, "pareto") + ["--num-samples", "3", "--objective", "accuracy_vs_params", "--scheduler", "fifo"]
    code, output = run_search(argv)
    assert code == 0, output
    assert "Pareto set (val_accuracy (max) vs params (min))" in output
    pareto = pd.read_csv(root / "runs" / "pareto" / "pareto.csv")
    results = pd.read_csv(root / "runs" / "pareto" / "results.csv")
    assert 1 <= len(pareto) <= len(results) == 3
    # No Pareto trial is beaten on both objectives by any other trial.
    for _, row in pareto.iterrows():
        better = results[(results["val_accuracy"] >= row["val_accuracy"]) & (results["params"] <= row["params"])]
        assert len(better[(better["val_accuracy"] > row["val_accuracy"]) | (better["params"] < row["params"])]) == 0


@pytest.mark.ray
def test_diverging_trial_is_recorded(workspace, local_ray):
    root, data_dir = workspace
    argv = base_args(root, data_dir, "diverging", space="diverging.yaml") + ["--num-samples", "1", "--scheduler", "fifo"]
    code, output = run_search(argv)
    assert code == 0, output
    results = pd.read_csv(root / "runs" / "diverging" / "results.csv")
    assert list(results["status"]) == ["diverged"]
    assert list(results["stop_reason"]) == ["diverged"]
    assert "best trial: none" in output


def finished_trials(experiment: Path) -> dict[str, tuple]:
    """Return trial folder name to (trained epochs, final test loss), for trials whose last report is final."""
    finished = {}
    for path in experiment.glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines and lines[-1].get("completed"):
            # A trial that finished just before the kill may report its last epoch twice:
            # once before and once after the resume, with no epoch trained in between.
            finished[path.parent.name] = (sorted({line["epoch"] for line in lines}), lines[-1]["test_loss"])
    return finished


@pytest.mark.ray
def test_resume_after_killed_driver(workspace, local_ray, caplog):
    root, data_dir = workspace
    argv = base_args(root, data_dir, "killed") + ["--num-samples", "5", "--max-concurrent", "1", "--scheduler", "fifo"]
    experiment = root / "runs" / "killed"
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "tune_cifar.search", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while not finished_trials(experiment) and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
    finally:
        kill_tree(driver.pid)
        driver.wait()
    before = finished_trials(experiment)
    assert before, "no trial finished before the deadline"
    assert len(before) < 5, "the driver finished every trial before it was killed"

    caplog.set_level("INFO")
    code, output = run_search(argv + ["--resume"])
    assert code == 0, output
    results = pd.read_csv(experiment / "results.csv")
    assert len(results) == 5
    assert results["trial"].is_unique
    assert sorted(results.loc[results["seeded"], "name"]) == ["original", "q4"]
    after = finished_trials(experiment)
    for trial, (epochs, test_loss) in before.items():
        assert after[trial] == (epochs, test_loss), f"{trial} was trained again"
    assert "searcher restored from" in caplog.text
    assert "resume check passed: each seeded variant ran once" in caplog.text
    assert "resume check failed" not in caplog.text


def test_multi_objective_rejects_asha(tmp_path, capsys):
    code = search.main(["--objective", "accuracy_vs_time", "--storage-path", str(tmp_path)])
    assert code == 2
    assert "--scheduler asha compares trials on one metric" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--objective", "loss"], "--objective 'loss' is not known; valid names are val_accuracy, accuracy_vs_params, accuracy_vs_time"),
        (["--scheduler", "pbt"], "--scheduler 'pbt' is not known; valid names are asha, fifo"),
        (["--asha-metric", "loss"], "--asha-metric 'loss' is not known; valid names are val_accuracy, val_loss"),
        (["--num-samples", "3"], "--num-samples 3 is below the 6 seeded variants"),
        (["--num-samples", "0"], "--num-samples must be >= 1, got 0"),
        (["--resume"], "nothing to resume in"),
    ],
)
def test_bad_options_are_rejected(tmp_path, capsys, argv, expected):
    assert search.main(argv + ["--storage-path", str(tmp_path)]) == 2
    assert expected in capsys.readouterr().err


def test_trial_records_without_config():
    from types import SimpleNamespace

    from tune_cifar.search_tuner import trial_records

    # Ray gives a trial that never reported before the driver was killed no config.
    grid = [SimpleNamespace(config=None, path="/runs/x/q4_0a0d1f09"), SimpleNamespace(config={"name": "q1"}, path="/runs/x/q1_5a95fd84/")]
    records = trial_records(grid)
    assert records[0] == {"trial_dir": "q4_0a0d1f09"}
    assert records[1] == {"name": "q1", "trial_dir": "q1_5a95fd84"}
