"""Results of an open search as pandas tables: one row per trial, the best trial and the Pareto set.

No Ray import: the search command passes each trial's config, last reported metrics and
error state in as plain dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from tune_cifar.search_space import SAMPLED_NAME

METRIC_COLUMNS = [
    "val_accuracy",
    "val_loss",
    "params",
    "elapsed_s",
    "epochs_run",
    "stop_reason",
    "test_accuracy",
    "test_loss",
]


def trial_status(metrics: Mapping[str, Any], errored: bool, run_ended: bool) -> str:
    """Return 'finished', 'diverged', 'failed', 'stopped' (by the scheduler) or 'incomplete'."""
    if metrics.get("completed"):
        return "diverged" if metrics.get("stop_reason") == "diverged" else "finished"
    if errored:
        return "failed"
    # A trial that ended without its final report was stopped by the scheduler (ASHA)
    # when the run ended normally, and interrupted otherwise.
    return "stopped" if run_ended and metrics else "incomplete"


def results_table(trials: Sequence[Mapping[str, Any]], parameter_names: Sequence[str], run_ended: bool) -> pd.DataFrame:
    """Return one row per trial.

    Each entry of ``trials`` has ``config`` (the trial's Ray Tune config), ``metrics`` (its
    last report, empty if it never reported), ``errored`` and ``trial_dir``.
    """
    rows = []
    for trial in trials:
        config, metrics = trial["config"], trial["metrics"] or {}
        name = config.get("name", SAMPLED_NAME)
        row: dict[str, Any] = {
            "trial": trial["trial_dir"],
            "name": name,
            "seeded": name != SAMPLED_NAME,
            "status": trial_status(metrics, trial["errored"], run_ended),
            "epochs": metrics.get("training_iteration", 0),
        }
        row.update({column: metrics.get(column) for column in METRIC_COLUMNS})
        row.update({name: config.get(name) for name in parameter_names})
        row["conv_blocks"] = json.dumps(config.get("trial", {}).get("conv_blocks"))
        row["node_ip"] = metrics.get("node_ip")
        rows.append(row)
    return pd.DataFrame(rows)


def usable(table: pd.DataFrame) -> pd.DataFrame:
    """Return the trials with a validation accuracy that did not fail or diverge."""
    mask = table["status"].isin(["finished", "stopped"]) & table["val_accuracy"].notna()
    return table[mask]


def pareto_set(table: pd.DataFrame, metrics: Sequence[str], modes: Sequence[str]) -> pd.DataFrame:
    """Return the non-dominated usable trials under ``metrics`` ('max' or 'min' each), best first."""
    candidates = usable(table).dropna(subset=list(metrics))
    if candidates.empty:
        return candidates
    signs = [1.0 if mode == "max" else -1.0 for mode in modes]
    scores = [tuple(sign * float(row[m]) for m, sign in zip(metrics, signs)) for _, row in candidates.iterrows()]

    def dominated(score: tuple[float, ...]) -> bool:
        return any(all(o >= s for o, s in zip(other, score)) and other != score for other in scores)

    keep = pd.Series([not dominated(score) for score in scores], index=candidates.index)
    return candidates[keep].sort_values(metrics[0], ascending=modes[0] == "min")


def best_trial(table: pd.DataFrame, seeded: bool | None = None) -> pd.Series | None:
    """Return the usable trial with the highest validation accuracy (only seeded ones, or only searched ones)."""
    candidates = usable(table)
    if seeded is not None:
        candidates = candidates[candidates["seeded"] == seeded]
    if candidates.empty:
        return None
    return candidates.loc[candidates["val_accuracy"].idxmax()]


def write_results(table: pd.DataFrame, pareto: pd.DataFrame, folder: Path) -> list[Path]:
    """Write results.csv (all trials) and pareto.csv into ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "results.csv", folder / "pareto.csv"]
    table.to_csv(paths[0], index=False)
    pareto.to_csv(paths[1], index=False)
    return paths


def format_trial(label: str, row: pd.Series | None, parameter_names: Sequence[str]) -> str:
    """Return a few lines describing one trial's metrics and config."""
    if row is None:
        return f"{label}: none (no trial of this kind finished)"
    test = f", test_accuracy {row['test_accuracy']:.4f}" if pd.notna(row.get("test_accuracy")) else ""
    lines = [
        f"{label}: {row['trial']} ({row['name']}, {row['status']} after {row['epochs']} epochs): "
        f"val_accuracy {row['val_accuracy']:.4f}, val_loss {row['val_loss']:.4f}{test}, "
        f"{int(row['params']):,} params, {row['elapsed_s']:.0f} s"
    ]
    config = ", ".join(f"{name}={_plain(row[name])}" for name in parameter_names if pd.notna(row.get(name)))
    lines.append(f"  {config}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    # Columns with missing values (block 2 of one-block trials) turn ints into floats.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return f"{value:.4g}" if isinstance(value, float) else value
