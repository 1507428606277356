"""Ray start-up and Tuner pieces shared by the reproduce and search commands."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import ray
from ray import tune

from tune_cifar.trainable import train_trial

logger = logging.getLogger(__name__)

EXPERIMENT_NAME = "experiment"
"""Folder name of the Ray Tune experiment inside a command's output folder."""


def init_ray(address: str | None) -> None:
    """Start a local Ray instance, or join the cluster at ``address`` ('auto' or host:port)."""
    if ray.is_initialized():
        return
    if address:
        logger.info("joining the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True)
    else:
        # address="local" starts a new instance; None would join a cluster that
        # `ray start` left recorded in /tmp/ray, such as another user's.
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
    resources = ray.cluster_resources()
    logger.info(
        "Ray is up: %s CPU(s), %s GPU(s) across %d node(s)",
        resources.get("CPU", 0),
        resources.get("GPU", 0),
        len([node for node in ray.nodes() if node.get("Alive")]),
    )


def default_cpus_per_trial(gpus_per_trial: float) -> int:
    """Return one trial's CPU share: this machine's cores on CPU runs, one CPU beside a GPU share.

    On a 2-core machine one trial with both threads finishes its first result sooner than
    two single-thread trials, and total throughput is about the same.
    """
    if gpus_per_trial > 0:
        return 1
    return os.cpu_count() or 1


def trial_dirname(trial: Any) -> str:
    """Name trial folders by their label and id, such as ``q4_1a2b3_00004``."""
    label = str(trial.config.get("name") or "trial")
    return f"{label}_{trial.trial_id}"


def make_trainable(data: Any, cpus_per_trial: float, gpus_per_trial: float):
    """Wrap ``train_trial`` with its data (shipped once through the object store) and resources."""
    resources = {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
    return tune.with_resources(tune.with_parameters(train_trial, data=data), resources)


def experiment_path(output: Path) -> Path:
    return output / EXPERIMENT_NAME


def can_resume(output: Path) -> bool:
    return tune.Tuner.can_restore(str(experiment_path(output).resolve()))
