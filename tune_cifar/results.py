"""Read a Ray Tune experiment folder into pandas, without importing Ray.

Each trial folder that ``trainable.train_trial`` wrote holds ``params.json`` (the trial's
config), ``result.json`` (one JSON line per reported epoch) and ``trial_meta.json``. The
last reported line of a finished trial carries its final evaluation.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ["name", "trial_id", "seed", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_time_s"]
FINAL_COLUMNS = [
    "params",
    "epochs_run",
    "stopped_early",
    "stop_reason",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "wall_time_s",
]


class ExperimentError(ValueError):
    """Raised when a folder is not a readable Ray Tune experiment of this project."""


def trial_dirs(experiment_dir: str | os.PathLike) -> list[Path]:
    """Return the trial folders (those with a ``params.json``) under ``experiment_dir``, sorted."""
    root = Path(experiment_dir)
    if not root.is_dir():
        raise ExperimentError(f"experiment folder not found: {root}")
    found = sorted(path.parent for path in root.glob("*/params.json"))
    if not found:
        raise ExperimentError(
            f"{root} holds no Ray Tune trial folders (no */params.json); pass the folder that "
            "Ray Tune wrote the experiment to, such as OUTPUT/experiment"
        )
    return found


def read_trial(trial_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (summary row, epoch rows) of one trial folder."""
    params = json.loads((trial_dir / "params.json").read_text())
    reports = _read_json_lines(trial_dir / "result.json")
    last = reports[-1] if reports else {}
    trial_id = last.get("trial_id") or trial_dir.name
    name = params.get("name") or trial_dir.name

    row: dict[str, Any] = {
        "name": name,
        "trial_id": trial_id,
        "seed": params.get("seed"),
        "status": _status(trial_dir, reports),
        "epochs_reported": len(reports),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
    }
    for column in FINAL_COLUMNS:
        row[column] = last.get(column)
    row["epochs_run"] = last.get("epochs_run", len(reports))
    for key, value in params.get("trial", {}).items():
        row[f"config/{key}"] = json.dumps(value) if isinstance(value, (list, dict)) else value
    row["trial_dir"] = str(trial_dir)

    history = [
        {column: report.get(column) for column in HISTORY_COLUMNS} | {"name": name, "trial_id": trial_id, "seed": params.get("seed")}
        for report in reports
    ]
    return row, history


def load_experiment(experiment_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (trials, history) DataFrames: one row per trial, and one row per trial epoch."""
    rows, history = [], []
    for trial_dir in trial_dirs(experiment_dir):
        row, epochs = read_trial(trial_dir)
        rows.append(row)
        history.extend(epochs)
    return pd.DataFrame(rows), pd.DataFrame(history, columns=HISTORY_COLUMNS)


def _status(trial_dir: Path, reports: list[dict[str, Any]]) -> str:
    if reports and reports[-1].get("completed"):
        return "diverged" if reports[-1].get("stop_reason") == "diverged" else "finished"
    if (trial_dir / "error.txt").exists() or (trial_dir / "error.pkl").exists():
        return "failed"
    return "incomplete"


def _read_json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    reports = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            reports.append(json.loads(line))
        except json.JSONDecodeError:
            # A driver killed mid-write can leave a partial last line; keep what parsed.
            logger.warning("%s: skipping unreadable line %d", path, number)
    return reports
