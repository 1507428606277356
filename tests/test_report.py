"""The report on real experiment folders: a tiny reproduce run with two seeds and a small
search-like experiment in which a stopper ends one trial, both through one local Ray."""

import json
import re
import shutil

import pandas as pd
import pytest
from PIL import Image

from tune_cifar import report, reproduce
from tune_cifar.analysis import load_experiments
from tune_cifar.results import load_experiment

pytestmark = pytest.mark.ray

VARIANTS = ["original", "q3", "q4", "extra"]
STOPPED_LEARNING_RATE = 3e-4


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run four variants with two seeds for one epoch, then three search-like trials."""
    import ray

    from tests.conftest import write_cifar_folder

    root = tmp_path_factory.mktemp("report")
    data_dir = write_cifar_folder(root / "data", n_train_per_class=10, n_test_per_class=2)
    practice = root / "practice"
    exit_code = reproduce.main([
        "--data-dir", str(data_dir), "--cache-dir", str(root / "cache"), "--variants", ",".join(VARIANTS),
        "--max-epochs", "1", "--seeds", "2", "--cpus-per-trial", "1", "--output", str(practice),
    ])
    assert exit_code == 0
    search = _run_search_like(data_dir, root)
    searched = _run_search_command(data_dir, root)
    yield practice, search, root, searched
    ray.shutdown()


SEARCH_SPACE = """\
parameters:
  dense_units: {distribution: categorical, choices: [64, 128]}
  learning_rate: {distribution: float, low: 1.0e-4, high: 1.0e-2, log: true}
  batch_size: {distribution: categorical, choices: [32, 100]}
fixed:
  block1_filters1: 32
  block1_filters2: 64
  max_epochs: 20
  patience: 1
seeded_variants: [original]
"""


def _run_search_command(data_dir, root):
    """Run the search command: the seeded original and three sampled trials, one epoch each."""
    from tune_cifar import search

    (root / "space.yaml").write_text(SEARCH_SPACE)
    code = search.main([
        "--space", str(root / "space.yaml"), "--data-dir", str(data_dir), "--cache-dir", str(root / "cache"),
        "--storage-path", str(root / "runs"), "--name", "searched", "--cpus-per-trial", "1",
        "--max-epochs", "1", "--num-samples", "4", "--scheduler", "fifo",
    ])
    assert code == 0
    return root / "runs" / "searched"


def _run_search_like(data_dir, root):
    """Three configs of a Ray Tune experiment; a stopper ends one after its first epoch."""
    from ray import tune

    from tune_cifar.data import load_cifar10
    from tune_cifar.practice import load_variants
    from tune_cifar.tuning import make_trainable, trial_dirname

    base = load_variants()["q3"].config.with_epoch_cap(2).to_dict()
    configs = [base | {"learning_rate": rate, "dense_units": units}
               for rate, units in ((1e-3, 64), (1e-4, 256), (STOPPED_LEARNING_RATE, 128))]

    def stop(trial_id, result):
        return result["config"]["trial"]["learning_rate"] == STOPPED_LEARNING_RATE and result["training_iteration"] >= 1

    data = load_cifar10(data_dir, cache_dir=root / "cache")
    tuner = tune.Tuner(
        make_trainable(data, 1, 0),
        param_space={"name": "search", "seed": 0, "trial": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(name="search", storage_path=str(root), stop=stop),
    )
    tuner.fit()
    return root / "search"


@pytest.fixture(scope="module")
def combined(runs, tmp_path_factory):
    practice, search, _, _ = runs
    output = tmp_path_factory.mktemp("combined")
    code = report.main([str(practice), str(search), "--output", str(output)])
    return code, output


def _markdown_table(text, header_start):
    """Return the rows (lists of cells) of the Markdown table whose header starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_load_reproduce_experiment(runs):
    practice, _, _, _ = runs
    trials, history = load_experiment(practice)
    assert len(trials) == 8
    assert sorted(trials["name"].unique()) == sorted(VARIANTS)
    assert sorted(trials["seed"].unique()) == [0, 1]
    assert (trials["status"] == "finished").all()
    assert trials["stop_reason"].isin(["max_epochs", "early_stopping"]).all()
    for column in ("params", "epochs_run", "wall_time_s", "train_accuracy", "val_accuracy", "test_accuracy", "config/learning_rate"):
        assert trials[column].notna().all(), column
    assert len(history) == trials["epochs_run"].sum()


def test_load_stopped_trial_as_scheduler_stop(runs):
    _, search, _, _ = runs
    trials, _ = load_experiment(search)
    stopped = trials[trials["config/learning_rate"] == STOPPED_LEARNING_RATE].iloc[0]
    assert stopped["status"] == "stopped"
    assert stopped["stop_reason"] == "scheduler"
    assert pd.isna(stopped["test_accuracy"])
    assert stopped["val_accuracy"] == pytest.approx(stopped["val_accuracy"])  # reported, not NaN
    others = trials[trials["config/learning_rate"] != STOPPED_LEARNING_RATE]
    assert (others["status"] == "finished").all()


def test_reproduce_writes_report(runs):
    practice, _, _, _ = runs
    text = (practice / "report" / "report.md").read_text()
    assert "## Practice answers" in text
    assert (practice / "report" / "report.html").exists()
    summary = (practice / "summary.md").read_text()
    assert "2 and 2 seeds" in summary


def test_report_exit_code_and_files(combined):
    code, output = combined
    assert code == 0
    for name in ("report.md", "report.html", "trials.csv", "trials.parquet", "history.csv", "history.parquet"):
        assert (output / name).stat().st_size > 0, name
    assert pd.read_parquet(output / "trials.parquet").shape == pd.read_csv(output / "trials.csv").shape


@pytest.mark.parametrize(
    "figure",
    ["accuracy_vs_params", "accuracy_vs_wall_time_s", "practice_loss_curves", "search_loss_curves",
     "accuracy_vs_hyperparameters", "importances"],
)
def test_every_figure_is_readable_png(combined, figure):
    _, output = combined
    path = output / "figures" / f"{figure}.png"
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size[0] >= 500
        assert image.size[1] >= 200
    assert f"figures/{figure}.png" in (output / "report.md").read_text()


def test_trials_table_equals_dataframe(combined):
    _, output = combined
    trials = pd.read_csv(output / "trials.csv").set_index("trial_id")
    rows = _markdown_table((output / "report.md").read_text(), "| rank | name | trial id")
    with_test = trials[trials["test_accuracy"].notna()]
    assert len(rows) == len(with_test) == 10
    accuracies = [float(row[9].rstrip("%")) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    for row in rows:
        trial = trials.loc[row[2]]
        assert row[1] == trial["name"]
        assert row[4] == f"{trial['params']:,.0f}"
        assert row[9] == f"{trial['test_accuracy']:.2%}"
        assert row[10] == f"{trial['test_loss']:.4f}"
        assert row[11] == f"{trial['wall_time_s']:.1f}"


def test_seed_table_equals_dataframe(combined):
    _, output = combined
    trials = pd.read_csv(output / "trials.csv")
    rows = _markdown_table((output / "report.md").read_text(), "| variant | seeds")
    assert [row[0] for row in rows] == ["original", "q3", "q4", "extra"]
    for row in rows:
        accuracies = trials.loc[trials["name"] == row[0], "test_accuracy"]
        assert row[1] == "2"
        assert row[2] == f"{accuracies.mean():.2%}"
        assert row[3] == f"{accuracies.std(ddof=1) * 100:.2f}"


def test_practice_answers_state_noise_and_verdicts(combined):
    _, output = combined
    text = (output / "report.md").read_text()
    answers = text.split("## Practice answers")[1].split("###")[0]
    assert "**Q3** (learning rate 1e-4, batch size 32): test accuracy" in answers
    assert "(mean ± sample std over 2 seeds)" in answers
    assert "test accuracy not answered: q2 has no test accuracy in this run." in answers
    for question in ("Q4 against the original", "Extra against Q3"):
        line = next(line for line in answers.splitlines() if question in line)
        # Chance-level accuracy on random images can repeat exactly, with no spread to test.
        assert "Welch's t-test, 2 and 2 seeds" in line or "no spread across 2 and 2 seeds" in line
        assert re.search(r"Verdict: \*\*(better|worse|no clear difference)\*\*; \*\*(not )?worth it", line), line


def test_search_section_lists_stopped_trial_and_importances(combined):
    _, output = combined
    text = (output / "report.md").read_text()
    assert "stopped by the scheduler" in text.split("## Trials by")[0]
    assert "Each best configuration against the best practice variant" in text
    assert "| learning_rate |" in text or "learning_rate" in text.split("### Best")[1]


def test_html_is_self_contained(combined):
    _, output = combined
    page = (output / "report.html").read_text()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == page.count("<img")
    assert len(sources) >= 5
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<link" not in page
    assert "@import" not in page
    assert "<script" not in page


def _copy_experiment(practice, destination):
    shutil.copytree(practice / "experiment", destination)
    state = next(destination.glob("experiment_state-*.json"))
    return state


def _set_ray_status(state_path, trial_dirname, status):
    document = json.loads(state_path.read_text())
    for entry in document["trial_data"]:
        trial = json.loads(entry[0])
        if trial["relative_logdir"] == trial_dirname:
            trial["status"] = status
            entry[0] = json.dumps(trial)
    state_path.write_text(json.dumps(document))


def _drop_final_line(trial_dir):
    lines = (trial_dir / "result.json").read_text().splitlines()
    (trial_dir / "result.json").write_text("\n".join(line for line in lines if '"completed": true' not in line) + "\n")


def test_running_and_failed_trials_are_listed(runs, tmp_path):
    practice, _, _, _ = runs
    experiment = tmp_path / "experiment"
    state = _copy_experiment(practice, experiment)
    running, failed = sorted(path.name for path in experiment.glob("q4_*"))
    for name in (running, failed):
        _drop_final_line(experiment / name)
    _set_ray_status(state, running, "RUNNING")
    _set_ray_status(state, failed, "ERROR")
    (experiment / failed / "error.txt").write_text("Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n")
    (experiment / "extra_0000dead").mkdir()  # a trial folder Ray created but never wrote to

    code = report.main([str(experiment), "--output", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert code == 0
    missing = _markdown_table(text, "| name | trial id | seed | state")
    states = {row[1]: row[3] for row in missing}
    errors = {row[1]: row[6] for row in missing}
    assert states == {running.split("_", 1)[1]: "still running (or its driver was stopped)", failed.split("_", 1)[1]: "failed"}
    assert errors[failed.split("_", 1)[1]] == "RuntimeError: CUDA out of memory"
    assert "1 folder(s) without params.json ignored: extra_0000dead" in text
    # The other variants are still reported, and Q4's answer names the missing result.
    assert "Not answered: q4 has no test accuracy in this run." in text
    assert "**Extra against Q3**: extra reaches" in text


def test_trial_without_final_line_and_no_state(runs, tmp_path):
    practice, _, _, _ = runs
    experiment = tmp_path / "experiment"
    state = _copy_experiment(practice, experiment)
    state.unlink()
    trial_dir = next(experiment.glob("extra_*"))
    _drop_final_line(trial_dir)
    trials = load_experiments([experiment]).trials
    row = trials[trials["trial_dir"] == str(trial_dir)].iloc[0]
    assert row["status"] == "unknown"
    assert row["stop_reason_label"] == "no final result; state unknown"


@pytest.mark.parametrize("case", ["missing", "empty", "not_experiment"])
def test_bad_folder_alone_is_an_error(tmp_path, capsys, case):
    folder = tmp_path / case
    if case != "missing":
        folder.mkdir()
    if case == "not_experiment":
        (folder / "notes.txt").write_text("hello")
    code = report.main([str(folder), "--output", str(tmp_path / "out")])
    expected = {"missing": "experiment folder not found", "empty": "is empty", "not_experiment": "is not a Ray Tune experiment folder"}
    assert code == 2
    assert expected[case] in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.md").exists()


def test_bad_folder_beside_good_one_still_reports(runs, tmp_path, capsys):
    practice, _, _, _ = runs
    code = report.main([str(practice), str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert code == 1
    assert "nowhere: skipped: experiment folder not found" in text
    assert "## Practice answers" in text
    assert "nowhere: skipped" in capsys.readouterr().err


def test_report_rejects_bad_top(tmp_path, capsys):
    assert report.main([str(tmp_path), "--output", str(tmp_path / "out"), "--top", "0"]) == 2
    assert "--top must be >= 1, got 0" in capsys.readouterr().err


def test_search_command_experiment(runs, tmp_path):
    _, _, _, searched = runs
    code = report.main([str(searched), "--output", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert code == 0
    assert (trials["kind"] == "search").all()
    assert not trials["practice"].any()
    assert sorted(trials["name"]) == ["original", "sampled", "sampled", "sampled"]
    assert trials["search/learning_rate"].notna().all()
    # The seeded original is the practice reference, and the sampled parameters head the table.
    assert "against the best practice variant, **original** (seeded into the search, same epoch cap)" in text
    header = next(line for line in text.splitlines() if line.startswith("| name | trial id | test accuracy"))
    for name in ("dense_units", "learning_rate", "batch_size"):
        assert f"| {name} " in header or f"| {name} |" in header
    assert "## Practice answers" not in text
    # Only the original was seeded, so there is nothing to compare it with inside the search.
    assert "Practice answers from the variants seeded into" not in text


def test_two_reproduce_runs_are_not_pooled(runs, tmp_path):
    """Two reproduce runs get one practice section each, not one with doubled seed counts."""
    practice, _, _, _ = runs
    first = tmp_path / "run_a"
    second = tmp_path / "run_b"
    shutil.copytree(practice, first)
    shutil.copytree(practice, second)

    exit_code = report.main([str(first), str(second), "--output", str(tmp_path / "out")])
    assert exit_code == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Practice answers: run_a" in text
    assert "## Practice answers: run_b" in text
    for section in text.split("## Practice answers: ")[1:]:
        rows = _markdown_table(section, "| variant | seeds")
        assert rows, "no seed table in a practice section"
        assert all(row[1] == "2" for row in rows)
    assert (tmp_path / "out" / "figures" / "practice_loss_curves_1.png").exists()
    assert (tmp_path / "out" / "figures" / "practice_loss_curves_2.png").exists()
