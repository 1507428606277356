"""End to end: the reproduce command on a tiny generated data set through a real local Ray."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from tune_cifar import reproduce

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Run original and q4 for at most 2 epochs on a tiny image-folder set, once per module."""
    import ray

    from tests.conftest import write_cifar_folder

    root = tmp_path_factory.mktemp("reproduce")
    data_dir = write_cifar_folder(root / "data", n_train_per_class=10, n_test_per_class=2)
    output = root / "out"
    argv = [
        "--data-dir", str(data_dir),
        "--cache-dir", str(root / "cache"),
        "--variants", "original,q4",
        "--max-epochs", "2",
        "--output", str(output),
    ]
    exit_code = reproduce.main(argv)
    yield exit_code, output, argv
    ray.shutdown()


def test_run_succeeds(finished_run):
    exit_code, _, _ = finished_run
    assert exit_code == 0


def test_results_csv(finished_run):
    _, output, _ = finished_run
    results = pd.read_csv(output / "results.csv")
    assert list(results["variant"]) == ["original", "q4"]
    for column in ["variant", "params", "epochs_run", "stopped_early", "train_accuracy", "test_accuracy", "test_loss", "wall_time_s"]:
        assert column in results.columns
        assert results[column].notna().all(), column
    assert dict(zip(results["variant"], results["params"])) == {"original": 1_626_442, "q4": 262_570}
    assert results["epochs_run"].between(1, 2).all()
    assert (results["status"] == "finished").all()
    assert results["test_accuracy"].between(0, 1).all()


def test_history_matches_epochs_run(finished_run):
    _, output, _ = finished_run
    results = pd.read_csv(output / "results.csv")
    history = pd.read_csv(output / "history.csv")
    counts = history.groupby("name").size().to_dict()
    assert counts == dict(zip(results["variant"], results["epochs_run"]))


@pytest.mark.parametrize("variant", ["original", "q4"])
def test_curves_and_summary_written(finished_run, variant):
    _, output, _ = finished_run
    folder = output / "variants" / variant
    for name in ("loss.png", "accuracy.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG"
            assert image.size[0] > 300
    assert "Total params:" in (folder / "model.txt").read_text()


def test_summary_md_answers(finished_run):
    _, output, _ = finished_run
    text = (output / "summary.md").read_text()
    assert "Q4 against the original" in text
    assert "1,626,442" in text
    assert "262,570" in text
    assert "Not answered: extra and q3" in text


def test_trial_folder_has_meta_and_checkpoint(finished_run):
    _, output, _ = finished_run
    metas = list((output / "experiment").glob("*/trial_meta.json"))
    assert len(metas) == 2
    meta = json.loads(metas[0].read_text())
    assert meta["seed"] == 0
    assert set(meta["versions"]) >= {"torch", "ray", "python"}
    assert meta["training"] == {"precision": "fp32", "channels_last": True, "compile": "off"}
    assert list((output / "experiment").glob("*/checkpoint_*/trainer.pt"))


def test_rerun_without_resume_is_rejected(finished_run, capsys):
    _, _, argv = finished_run
    assert reproduce.main(argv) == 2
    assert "already contains an experiment; pass --resume" in capsys.readouterr().err


def test_resume_of_finished_run_keeps_trials(finished_run):
    _, output, argv = finished_run
    before = pd.read_csv(output / "results.csv")
    assert reproduce.main(argv + ["--resume"]) == 0
    after = pd.read_csv(output / "results.csv")
    assert list(after["trial_id"]) == list(before["trial_id"])
    assert list(after["test_loss"]) == list(before["test_loss"])


def test_resume_without_experiment(tmp_path, capsys):
    assert reproduce.main(["--output", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_summary_option_prints_models():
    result = subprocess.run(
        [sys.executable, "-m", "tune_cifar.reproduce", "--summary", "--variants", "q4,extra"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Total params: 262,570" in result.stdout
    assert "Total params: 6,447,562" in result.stdout
    assert "Total params: 1,626,442" not in result.stdout


def test_bad_options_are_rejected(capsys):
    assert reproduce.main(["--variants", "q7", "--summary"]) == 2
    assert "unknown variant(s) 'q7'" in capsys.readouterr().err
    assert reproduce.main(["--max-epochs", "0"]) == 2
    assert "--max-epochs must be >= 1" in capsys.readouterr().err


def test_missing_data_dir_is_reported(tmp_path, capsys):
    code = reproduce.main(["--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "--data-dir" in capsys.readouterr().err


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_resume_after_stopped_driver(tmp_path, signal_name):
    """Stop the driver (Ctrl-C or kill) after the first variant finished; --resume must not rerun it."""
    import os
    import signal
    import time

    from tests.conftest import write_cifar_folder

    data_dir = write_cifar_folder(tmp_path / "data", n_train_per_class=10, n_test_per_class=2)
    output = tmp_path / "out"
    argv = [
        sys.executable, "-m", "tune_cifar.reproduce",
        "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"),
        "--variants", "original,q1,q2", "--max-epochs", "2", "--output", str(output),
    ]
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and not _finished_trials(output):
            time.sleep(0.5)
        assert _finished_trials(output), "no trial finished before the deadline"
    finally:
        # The whole process group, as Ctrl-C in a terminal does: the driver and the Ray
        # processes it started.
        os.killpg(driver.pid, getattr(signal, signal_name))
        try:
            driver.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    first_finished = _finished_trials(output)

    resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    results = pd.read_csv(output / "results.csv")
    assert sorted(results["variant"]) == ["original", "q1", "q2"]
    assert (results["status"] == "finished").all()
    for trial_dir in first_finished:
        lines = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
        epochs = [line["epoch"] for line in lines]
        expected = list(range(1, lines[-1]["epochs_run"] + 1))
        # A trial that finished just before the stop may report its last epoch once more,
        # untrained; a rerun would restart the count at epoch 1.
        if len(epochs) == len(expected) + 1:
            assert lines[-1]["loss"] == lines[-2]["loss"], f"{trial_dir.name} trained again"
            epochs = epochs[:-1]
        assert epochs == expected, f"{trial_dir.name} was rerun: epochs {epochs}"


def _finished_trials(output):
    finished = []
    for result in (output / "experiment").glob("*/result.json"):
        lines = result.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("completed"):
            finished.append(result.parent)
    return finished
