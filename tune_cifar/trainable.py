"""The Ray Tune function trainable: one trial of ``training.fit`` with per-epoch checkpoints.

A trial's config (the Ray Tune ``param_space`` after sampling) has these keys:

- ``trial``: a ``TrialConfig.to_dict()`` mapping (architecture and hyperparameters);
- ``seed``: the trial seed (initial weights, dropout, batch order);
- ``name``: a label for logs and results, such as the practice variant's name;
- ``training``: optional ``TrainingOptions`` fields (device, precision, channels_last).

Every epoch reports Keras's metrics to Ray Tune with a checkpoint of the whole trainer
state, so a trial that fails or whose driver is killed resumes from its last epoch.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from ray import tune

from tune_cifar.config import TrialConfig
from tune_cifar.training import DeviceData, EpochRecord, Trainer, TrainingOptions, TrialOutcome, fit, select_device

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "trainer.pt"
TRIAL_META_FILE = "trial_meta.json"
FINAL_METRICS_FILE = "final_metrics.json"
"""Written into the checkpoint of a trial's last epoch, so a resumed finished trial does not train on."""


def train_trial(config: dict[str, Any], data: Any) -> None:
    """Run one trial inside Ray Tune; ``data`` is a ``Cifar10`` passed by ``tune.with_parameters``."""
    _configure_worker_logging()
    context = tune.get_context()
    name = config.get("name") or context.get_trial_name()
    trial_config = TrialConfig.from_dict(config["trial"], source=f"trial {name}")
    seed = int(config["seed"])
    options = TrainingOptions(**config.get("training", {}))

    threads = _set_threads_from_resources(context, name)
    device = _trial_device(options.device, context)
    trainer = Trainer(trial_config, DeviceData(data, device, options.channels_last), seed, options)
    final_metrics = _restore_from_checkpoint(trainer, name)
    if final_metrics is not None:
        # The trial had finished, but the driver stopped before it recorded that; training
        # on would run past the trial's stop condition, so only its last report is repeated.
        logger.info("%s had already finished after epoch %d; reporting its final metrics again", name, trainer.epochs_done)
        tune.report(final_metrics)
        return
    meta_text = _write_trial_meta(context, config, trainer, threads, data)

    def report(trainer: Trainer, record: EpochRecord, outcome: TrialOutcome | None) -> None:
        metrics = epoch_metrics(name, trainer, record, outcome)
        with tempfile.TemporaryDirectory() as checkpoint_dir:
            torch.save(trainer.state_dict(), Path(checkpoint_dir) / CHECKPOINT_FILE)
            # The trial folder on a worker node reaches the storage path only through
            # checkpoints, so each checkpoint carries a copy of the trial's metadata.
            (Path(checkpoint_dir) / TRIAL_META_FILE).write_text(meta_text)
            if outcome is not None:
                (Path(checkpoint_dir) / FINAL_METRICS_FILE).write_text(json.dumps(metrics))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

    fit(trainer, on_epoch=report, trial_name=name)


def _configure_worker_logging() -> None:
    # A Ray worker starts with no logging handlers, so the per-epoch INFO lines of
    # tune_cifar would be dropped; Ray forwards the worker's stderr to the driver.
    package_logger = logging.getLogger("tune_cifar")
    if not package_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package_logger.addHandler(handler)
        package_logger.setLevel(logging.INFO)
        package_logger.propagate = False


def epoch_metrics(name: str, trainer: Trainer, record: EpochRecord, outcome: TrialOutcome | None) -> dict[str, Any]:
    """Return the flat metrics dict one epoch reports; the last epoch adds the final results."""
    metrics: dict[str, Any] = {
        "name": name,
        **asdict(record),
        "params": trainer.params,
        "elapsed_s": trainer.elapsed_s,
        "completed": outcome is not None,
    }
    if outcome is not None:
        final = asdict(outcome)
        final.pop("history")
        metrics.update(final)
    return metrics


def _set_threads_from_resources(context: tune.TuneContext, name: str) -> int:
    # Ray caps OMP_NUM_THREADS of a worker at its CPU share; torch must follow the same
    # number, or several trials on one node oversubscribe the cores.
    resources = context.get_trial_resources().required_resources
    threads = max(1, int(resources.get("CPU", 1)))
    torch.set_num_threads(threads)
    logger.info("%s uses %d CPU thread(s) (its Ray CPU share)", name, threads)
    return threads


def _trial_device(requested: str, context: tune.TuneContext) -> torch.device:
    gpus = context.get_trial_resources().required_resources.get("GPU", 0)
    if requested == "auto" and gpus == 0:
        return torch.device("cpu")  # a trial without a GPU share must not take a visible GPU
    return select_device(requested)


def _restore_from_checkpoint(trainer: Trainer, name: str) -> dict[str, Any] | None:
    """Load the trial's last checkpoint, if any; return its final metrics if the trial had finished."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as checkpoint_dir:
        state = torch.load(Path(checkpoint_dir) / CHECKPOINT_FILE, map_location=trainer.device, weights_only=True)
        final_path = Path(checkpoint_dir) / FINAL_METRICS_FILE
        final_metrics = json.loads(final_path.read_text()) if final_path.is_file() else None
    trainer.load_state_dict(state)
    logger.info("%s resumed from its checkpoint after epoch %d", name, trainer.epochs_done)
    return final_metrics


def _write_trial_meta(context: tune.TuneContext, config: dict[str, Any], trainer: Trainer, threads: int, data: Any) -> str:
    """Write the resolved config, seed and library versions into the trial folder; return the JSON text."""
    import ray

    meta = {
        "name": config.get("name"),
        "trial_id": context.get_trial_id(),
        "seed": trainer.seed,
        "trial": trainer.config.to_dict(),
        "training": config.get("training", {}),
        "device": str(trainer.device),
        "precision": trainer.precision,
        "threads": threads,
        "params": trainer.params,
        "data_source": getattr(data, "source", None),
        "data_dir": config.get("data_dir"),
        "node_id": ray.get_runtime_context().get_node_id(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ray": ray.__version__,
        },
    }
    trial_dir = Path(context.get_trial_dir())
    trial_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(meta, indent=2) + "\n"
    (trial_dir / TRIAL_META_FILE).write_text(text)
    return text
