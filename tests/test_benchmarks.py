"""The benchmark scripts' helpers and a tiny run of each script that needs no real data or GPU."""

import pytest
import torch

from benchmarks import gpu_practice, throughput
from benchmarks.common import fit_subset, practice_architectures, trainer_throughput, write_image_folders
from benchmarks.tutorial_reference import tutorial_loader, tutorial_throughput
from tests.conftest import random_arrays
from tune_cifar.training import DeviceData, TrainingOptions, to_float


def arrays(n_train=200, n_test=20, seed=0):
    return random_arrays(n_train, n_test, seed)


def test_architectures_merge_q1_and_q2():
    names = [arch.name for arch in practice_architectures()]
    assert names == ["original", "q1/q2", "q3", "q4", "extra"]


def test_architectures_filter_by_variant():
    assert [arch.name for arch in practice_architectures("q2,extra")] == ["q1/q2", "extra"]


def test_architectures_unknown_variant():
    with pytest.raises(ValueError, match="unknown variant"):
        practice_architectures("q9")


@pytest.mark.parametrize("num_fit", [32, 96, 100, 160])
def test_fit_subset_gives_exact_fit_part(num_fit):
    subset = fit_subset(arrays(), num_fit)
    assert DeviceData(subset, torch.device("cpu")).num_fit == num_fit


def test_fit_subset_too_large():
    with pytest.raises(ValueError, match="lower --images"):
        fit_subset(arrays(n_train=100), 96)


def test_tutorial_batches_equal_trainer_batches():
    """ToTensor of a PIL image gives the same floats as the trainer's uint8-to-float path."""
    data = arrays()
    loader = tutorial_loader(data, 8, batch_size=8, workers=0)
    loader_images = torch.stack([loader.dataset[i][0] for i in range(8)])
    trainer_images = to_float(DeviceData(data, torch.device("cpu")).x_train[:8])
    assert torch.equal(loader_images, trainer_images)
    assert [loader.dataset[i][1] for i in range(8)] == [int(label) for label in data.y_train[:8]]


def test_throughput_helpers_count_images():
    arch = practice_architectures("q3")[0]
    data = arrays(n_train=400)
    ours = trainer_throughput(arch.config, data, TrainingOptions(device="cpu"), batches=3)
    reference = tutorial_throughput(arch.config, data, batches=3, warmup_batches=1, workers=0)
    assert ours.images == reference.images == 3 * 32
    assert ours.images_per_s > 0
    assert reference.images_per_s > 0


def test_throughput_script_on_tiny_data(tmp_path, capsys):
    data_dir = write_image_folders(tmp_path / "data", train_per_class=12, test_per_class=2)
    argv = ["--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--variants", "q3",
            "--images", "32", "--warmup-batches", "1", "--tutorial-workers", "0", "--no-keras"]
    assert throughput.main(argv) == 0
    output = capsys.readouterr().out
    assert "Keras reference: skipped (--no-keras)" in output
    ratio_lines = output.split("ratios:")[1]
    assert "| q3 |" in ratio_lines
    assert "n/a" in ratio_lines  # no Keras number to divide by


def test_throughput_reports_missing_tensorflow(tmp_path, capsys):
    data_dir = write_image_folders(tmp_path / "data", train_per_class=12, test_per_class=2)
    argv = ["--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--variants", "q3",
            "--images", "32", "--warmup-batches", "1", "--tutorial-workers", "0",
            "--keras-python", str(tmp_path / "no-such-python")]
    assert throughput.main(argv) == 0
    assert "could not be started" in capsys.readouterr().out


@pytest.mark.ray
def test_gpu_practice_tiny_run(tmp_path, capsys):
    assert gpu_practice.main(["--tiny", "--output", str(tmp_path / "run")]) == 0
    output = capsys.readouterr().out
    for variant in ("original", "q1", "q2", "q3", "q4", "extra"):
        assert f"| {variant} | 1 | max_epochs |" in output
    assert "total wall time" in output.splitlines()[-1]
