"""A trial that raises is retried from its last checkpoint while the other trials go on."""

import json

import pytest

from tune_cifar.practice import load_variants

pytestmark = pytest.mark.ray


def test_failed_trial_resumes_from_checkpoint(tmp_path):
    import ray
    from ray import tune

    from tests.conftest import write_cifar_folder
    from tune_cifar.data import load_cifar10
    from tune_cifar.trainable import train_trial
    from tune_cifar.tuning import init_ray, trial_dirname

    data = load_cifar10(write_cifar_folder(tmp_path / "data", 6, 1), cache_dir=tmp_path / "cache")
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()

    # Defined inside the test so Ray ships it by value to the worker processes.
    def flaky_trial(config, data):
        from ray import tune as worker_tune

        real_report = worker_tune.report
        marker = marker_dir / config["name"]

        def report_then_fail(metrics, *, checkpoint=None):
            real_report(metrics, checkpoint=checkpoint)
            if config["name"] == "q4" and metrics["epoch"] == 2 and not marker.exists():
                marker.write_text("raised once")
                raise RuntimeError("injected fault after epoch 2")

        worker_tune.report = report_then_fail
        try:
            train_trial(config, data)
        finally:
            worker_tune.report = real_report

    variants = load_variants()
    configs = {name: variants[name].config.with_epoch_cap(3).to_dict() for name in ("original", "q4")}
    configs = {name: {**config, "patience": None} for name, config in configs.items()}

    init_ray(None)
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(flaky_trial, data=data), {"cpu": 1}),
            param_space={
                "name": tune.grid_search(list(configs)),
                "seed": 0,
                "trial": tune.sample_from(lambda spec: configs[spec.config["name"]]),
            },
            tune_config=tune.TuneConfig(trial_dirname_creator=trial_dirname),
            run_config=tune.RunConfig(
                name="faults",
                storage_path=str(tmp_path / "storage"),
                failure_config=tune.FailureConfig(max_failures=1),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()

    assert (marker_dir / "q4").exists(), "the fault was never injected"
    assert grid.num_errors == 0
    for name in configs:
        (trial_dir,) = (tmp_path / "storage" / "faults").glob(f"{name}_*")
        reports = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
        epochs = [report["epoch"] for report in reports]
        assert epochs == [1, 2, 3], f"{name} reported epochs {epochs}"
        assert reports[-1]["completed"] is True
        assert reports[-1]["epochs_run"] == 3
