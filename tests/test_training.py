import math
import pytest
import torch

from tests.conftest import random_arrays
from tune_cifar.config import TrialConfig
from tune_cifar.training import DeviceData, Trainer, TrainingOptions, epoch_permutation, fit, to_float

SMALL = {
    "conv_blocks": [{"filters": [4, 8], "dropout": 0.25}],
    "dense_units": 16,
    "dense_dropout": 0.5,
    "learning_rate": 1.0e-3,
    "batch_size": 16,
    "max_epochs": 3,
    "patience": None,
}


def arrays(n_train=100, n_test=30, seed=0):
    return random_arrays(n_train, n_test, seed)


def trainer(data=None, seed=0, **overrides):
    config = TrialConfig.from_dict({**SMALL, **overrides})
    return Trainer(config, DeviceData(data or arrays(), torch.device("cpu")), seed)


def test_validation_split_is_the_tail():
    data = DeviceData(arrays(n_train=100), torch.device("cpu"))
    assert data.split_at == 80
    assert data.num_fit == 80


def test_validation_split_too_small():
    with pytest.raises(ValueError, match="too small for a 20% validation split"):
        DeviceData(arrays(n_train=1), torch.device("cpu"))


def test_images_scaled_by_1_over_255():
    batch = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(to_float(batch), torch.tensor([0.0, 0.2, 1.0]))


def test_epoch_permutation_is_reproducible():
    assert torch.equal(epoch_permutation(50, 1, 0), epoch_permutation(50, 1, 0))
    assert not torch.equal(epoch_permutation(50, 1, 0), epoch_permutation(50, 1, 1))
    assert sorted(epoch_permutation(50, 1, 2).tolist()) == list(range(50))


def test_same_seed_same_history():
    first = fit(trainer(seed=5))
    second = fit(trainer(seed=5))
    other = fit(trainer(seed=6))
    assert [r.loss for r in first.history] == [r.loss for r in second.history]
    assert [r.loss for r in first.history] != [r.loss for r in other.history]


def test_resume_matches_uninterrupted_run():
    straight = fit(trainer(seed=1))

    interrupted = trainer(seed=1)
    interrupted.run_epoch()
    state = interrupted.state_dict()
    torch.manual_seed(999)  # disturb the global RNG, as a fresh worker process would differ
    resumed = trainer(seed=1)
    resumed.load_state_dict(state)
    outcome = fit(resumed)

    assert outcome.epochs_run == 3
    assert [r.loss for r in outcome.history] == pytest.approx([r.loss for r in straight.history], rel=1e-6)
    assert outcome.test_loss == pytest.approx(straight.test_loss, rel=1e-6)


def test_outcome_fields_after_max_epochs():
    outcome = fit(trainer())
    assert outcome.stop_reason == "max_epochs"
    assert outcome.stopped_early is False
    assert outcome.epochs_run == 3
    assert 0.0 <= outcome.train_accuracy <= 1.0
    assert 0.0 <= outcome.test_accuracy <= 1.0
    assert outcome.params == 3 * 9 * 4 + 4 + 4 * 9 * 8 + 8 + 8 * 14 * 14 * 16 + 16 + 16 * 10 + 10
    assert outcome.wall_time_s >= sum(r.epoch_time_s for r in outcome.history)


def test_early_stopping_ends_trial(monkeypatch):
    t = trainer(patience=1, max_epochs=10)
    scripted = iter([1.0, 0.8, 0.9, 0.5])
    original_evaluate = t.evaluate

    def scripted_evaluate(images, labels):
        loss, accuracy = original_evaluate(images, labels)
        return (next(scripted), accuracy) if len(labels) == t.data.num_fit // 4 else (loss, accuracy)

    monkeypatch.setattr(t, "evaluate", scripted_evaluate)
    outcome = fit(t)
    assert outcome.stop_reason == "early_stopping"
    assert outcome.stopped_early is True
    assert outcome.epochs_run == 3
    assert [r.val_loss for r in outcome.history] == [1.0, 0.8, 0.9]
    assert outcome.test_accuracy is not None


def test_diverging_trial_is_recorded():
    outcome = fit(trainer(learning_rate=1.0e30, max_epochs=5))
    assert outcome.stop_reason == "diverged"
    assert outcome.test_accuracy is None
    assert not math.isfinite(outcome.history[-1].loss) or not math.isfinite(outcome.history[-1].val_loss)


def test_on_epoch_callback_sees_final_outcome_once():
    seen = []
    fit(trainer(), on_epoch=lambda tr, record, outcome: seen.append((record.epoch, outcome is not None)))
    assert seen == [(1, False), (2, False), (3, True)]


def test_fast_path_matches_reference_loop():
    """The indexed uint8 batches give the same loss as a plain float tensor loop."""
    data = arrays()
    fast = trainer(data, seed=2, dense_dropout=0.0, conv_blocks=[{"filters": [4, 8]}], max_epochs=1)
    fast_loss, _ = fast.train_epoch()

    reference = trainer(data, seed=2, dense_dropout=0.0, conv_blocks=[{"filters": [4, 8]}], max_epochs=1)
    images = torch.from_numpy(data.x_train).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.from_numpy(data.y_train)
    order = epoch_permutation(80, 2, 0)
    total = 0.0
    reference.model.train()
    for start in range(0, 80, 16):
        index = order[start : start + 16]
        loss = torch.nn.functional.cross_entropy(reference.model(images[index]), labels[index])
        reference.optimizer.zero_grad()
        loss.backward()
        reference.optimizer.step()
        total += loss.item() * len(index)
    assert fast_loss == pytest.approx(total / 80, rel=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_reduced_precision_runs(precision):
    config = TrialConfig.from_dict(SMALL)
    t = Trainer(config, DeviceData(arrays(), torch.device("cpu")), 0, TrainingOptions(precision=precision))
    assert t.precision in ("fp32", "bf16")
    outcome = fit(t)
    assert math.isfinite(outcome.test_loss)


def reference_epoch_loss(data, reference: Trainer, batch_size: int = 16) -> float:
    """Train one epoch with a plain float-tensor loop in the trainer's batch order; return the mean loss."""
    images = torch.from_numpy(data.x_train).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.from_numpy(data.y_train)
    num_fit = reference.data.num_fit
    order = epoch_permutation(num_fit, reference.seed, 0)
    total = 0.0
    reference.model.train()
    for start in range(0, num_fit, batch_size):
        index = order[start : start + batch_size]
        loss = torch.nn.functional.cross_entropy(reference.model(images[index]), labels[index])
        reference.optimizer.zero_grad()
        loss.backward()
        reference.optimizer.step()
        total += loss.item() * len(index)
    return total / num_fit


@pytest.mark.parametrize("options", [TrainingOptions(channels_last=True), TrainingOptions(compile="default")], ids=["channels_last", "compile"])
def test_fast_options_match_reference_loop(options):
    data = arrays()
    config = TrialConfig.from_dict({**SMALL, "dense_dropout": 0.0, "conv_blocks": [{"filters": [4, 8]}]})
    fast = Trainer(config, DeviceData(data, torch.device("cpu"), options.channels_last), 3, options)
    fast_loss, _ = fast.train_epoch()
    reference = Trainer(config, DeviceData(data, torch.device("cpu")), 3)
    assert fast_loss == pytest.approx(reference_epoch_loss(data, reference), rel=1e-4)


def test_compiled_trainer_checkpoint_keys_match_eager():
    eager = trainer(seed=4)
    compiled = Trainer(TrialConfig.from_dict(SMALL), DeviceData(arrays(), torch.device("cpu")), 4, TrainingOptions(compile="default"))
    assert compiled.forward is not compiled.model
    assert list(compiled.state_dict()["model"]) == list(eager.state_dict()["model"])


def test_unknown_compile_mode_rejected():
    with pytest.raises(ValueError, match="compile mode 'fast' is not one of off, default, reduce-overhead"):
        Trainer(TrialConfig.from_dict(SMALL), DeviceData(arrays(), torch.device("cpu")), 0, TrainingOptions(compile="fast"))


def test_threads_option_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        Trainer(TrialConfig.from_dict(SMALL), DeviceData(arrays(), torch.device("cpu")), 0, TrainingOptions(threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_zero_threads_rejected():
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        Trainer(TrialConfig.from_dict(SMALL), DeviceData(arrays(), torch.device("cpu")), 0, TrainingOptions(threads=0))
