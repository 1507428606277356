"""Training curves as the lecture plots them: one metric, training and validation, by epoch."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
import pandas as pd  # noqa: E402

from tune_cifar.practice import PRACTICE_ORDER  # noqa: E402

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


# No software URL in the PNG's text chunk, so an embedding page references nothing outside.
PNG_METADATA = {"Software": None}
COST_LABELS = {"params": "parameters (log scale)", "wall_time_s": "wall time per trial, s (log scale)"}


def plot_loss_grid(history: pd.DataFrame, panels: list[tuple[str, list[str]]], path: str | os.PathLike, title: str) -> None:
    """Save a grid of loss curves: one panel per (title, trial ids), training solid and validation dashed.

    A panel with several trials (seeds of one variant) draws one colour per trial.
    """
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes_grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), dpi=110, squeeze=False)
    for axes, (panel_title, trial_ids) in zip(axes_grid.flat, panels):
        for trial_id in trial_ids:
            trial = history[history["trial_id"] == trial_id]
            line = axes.plot(trial["epoch"], trial["loss"], marker="o", markersize=3)[0]
            axes.plot(trial["epoch"], trial["val_loss"], marker="s", markersize=3, linestyle="--", color=line.get_color())
        axes.set_title(panel_title, fontsize=9)
        axes.set_xlabel("epoch")
        axes.set_ylabel("cross-entropy loss")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
    for axes in list(axes_grid.flat)[len(panels):]:
        axes.set_visible(False)

    handles = [
        plt.Line2D([], [], color="black", marker="o", markersize=3, label="training"),
        plt.Line2D([], [], color="black", marker="s", markersize=3, linestyle="--", label="validation"),
    ]
    axes_grid.flat[0].legend(handles=handles, fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)


def plot_accuracy_vs_cost(
    table: pd.DataFrame, cost: str, metric: str, on_front: pd.Series, path: str | os.PathLike, title: str
) -> None:
    """Save ``metric`` against ``cost`` (log axis) for each row, with the Pareto front and practice labels.

    ``table`` needs the columns ``name``, ``practice`` (bool), ``cost`` and ``metric``;
    ``on_front`` marks the rows on the Pareto front. Search trials named after a practice
    variant (seeded into the search) get a grey label.
    """
    figure, axes = plt.subplots(figsize=(7, 4.6), dpi=120)
    search = table[~table["practice"]]
    practice = table[table["practice"]]
    if not search.empty:
        axes.scatter(search[cost], search[metric] * 100, s=22, color="tab:gray", alpha=0.7, label="search trials")
        seeded = search[search["name"].isin(PRACTICE_ORDER)]
        for (x, y), names in _label_positions(seeded, cost, metric).items():
            axes.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, -10), fontsize=7, color="dimgray")
    if not practice.empty:
        axes.scatter(practice[cost], practice[metric] * 100, s=40, color="tab:blue", label="practice variants")
        for (x, y), names in _label_positions(practice, cost, metric).items():
            axes.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)

    front = table[on_front].sort_values(cost)
    axes.step(front[cost], front[metric] * 100, where="post", color="tab:red", linewidth=1.2, label="Pareto front")
    axes.scatter(front[cost], front[metric] * 100, s=70, facecolors="none", edgecolors="tab:red")

    axes.set_xscale("log")
    # Label 1-2-5 steps as 300k or 1.6M: matplotlib's default minor labels (3x10^5,
    # 4x10^5) overlap on an axis that spans less than two decades.
    axes.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    axes.set_xlabel(COST_LABELS.get(cost, cost))
    axes.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)


def _label_positions(practice: pd.DataFrame, cost: str, metric: str) -> dict[tuple[float, float], list[str]]:
    """Return each variant's mean point, with variants at the same point under one label."""
    positions: dict[tuple[float, float], list[str]] = {}
    for name, group in practice.groupby("name", sort=False):
        # Rounded to 4 significant digits, so equal results (q1 and q2 under one epoch cap) share a label.
        point = (float(f"{group[cost].mean():.4g}"), float(f"{group[metric].mean() * 100:.4g}"))
        positions.setdefault(point, []).append(str(name))
    return positions


def plot_importances(importances: dict[str, float], metric: str, path: str | os.PathLike) -> None:
    """Save a horizontal bar chart of hyperparameter importances, most important on top."""
    names = [name.split("/", 1)[1] for name in importances]
    figure, axes = plt.subplots(figsize=(6.5, 0.4 * len(names) + 1.4), dpi=120)
    axes.barh(names[::-1], list(importances.values())[::-1], color="tab:blue")
    axes.set_xlabel(f"importance for {metric.replace('_', ' ')} (Optuna PED-ANOVA, sums to 1)")
    axes.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)


def plot_metric_vs_hyperparameters(table: pd.DataFrame, columns: list[str], metric: str, path: str | os.PathLike) -> None:
    """Save one scatter panel per hyperparameter column: ``metric`` against its value.

    Numeric columns whose values span a factor of 10 or more get a log axis; other columns
    are drawn as categories. Trials of the ``finished`` status are blue, the others grey.
    ``table`` needs a ``status`` column besides ``columns`` and ``metric``.
    """
    per_row = min(3, len(columns))
    rows = -(-len(columns) // per_row)
    figure, axes_grid = plt.subplots(rows, per_row, figsize=(4 * per_row, 3 * rows), dpi=110, squeeze=False)
    for axes, column in zip(axes_grid.flat, columns):
        # A conditional hyperparameter (a block the trial does not have) is missing; skip those trials.
        present = table[table[column].notna()]
        finished = present["status"] == "finished"
        values = pd.to_numeric(present[column], errors="coerce")
        if values.isna().any():
            categories = sorted(present[column].astype(str).unique())
            values = present[column].astype(str).map({category: index for index, category in enumerate(categories)})
            axes.set_xticks(range(len(categories)), categories, rotation=30, fontsize=7)
        elif values.min() > 0 and values.max() / values.min() >= 10:
            axes.set_xscale("log")
        axes.scatter(values[finished], present.loc[finished, metric] * 100, s=18, color="tab:blue", label="finished")
        axes.scatter(values[~finished], present.loc[~finished, metric] * 100, s=18, color="tab:gray", label="not finished")
        axes.set_xlabel(column.split("/", 1)[1], fontsize=8)
        axes.set_ylabel(f"{metric.replace('_', ' ')} (%)", fontsize=8)
        axes.grid(alpha=0.3)
    for axes in list(axes_grid.flat)[len(columns):]:
        axes.set_visible(False)
    axes_grid.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)
