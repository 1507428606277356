"""Training curves as the lecture plots them: one metric, training and validation, by epoch."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

CURVES = {
    "loss": ("loss", "val_loss", "Cross-entropy loss"),
    "accuracy": ("accuracy", "val_accuracy", "Accuracy"),
}


def plot_curve(history: pd.DataFrame, metric: str, path: str | os.PathLike, title: str) -> None:
    """Save training and validation ``metric`` ('loss' or 'accuracy') by epoch.

    ``history`` holds the epochs of one trial, or of one variant's trials with several
    seeds; each trial then gets its own pair of lines, labelled by seed.
    """
    train_column, val_column, label = CURVES[metric]
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    trials = list(history.groupby("trial_id", sort=False))
    for index, (_, trial) in enumerate(trials):
        suffix = f" (seed {trial['seed'].iloc[0]})" if len(trials) > 1 else ""
        train_line = axes.plot(trial["epoch"], trial[train_column], marker="o", label=f"training{suffix}")
        axes.plot(
            trial["epoch"],
            trial[val_column],
            marker="s",
            linestyle="--",
            color=train_line[0].get_color() if len(trials) > 1 else None,
            label=f"validation{suffix}",
        )
    axes.set_xlabel("epoch")
    axes.set_ylabel(label)
    axes.set_title(title, fontsize=9)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
