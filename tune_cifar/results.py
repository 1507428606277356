"""Read a Ray Tune experiment folder into pandas, without importing Ray.

Each trial folder that ``trainable.train_trial`` wrote holds ``params.json`` (the trial's
config), ``result.json`` (one JSON line per reported epoch) and ``trial_meta.json``. The
last reported line of a finished trial carries its final evaluation (``completed: true``).

A trial without that line may still be running, may have failed, or may have been stopped
by a scheduler such as ASHA. The trial folders alone cannot tell these apart, so the
loader also reads Ray Tune's ``experiment_state-*.json``, where each trial has a status
(PENDING, RUNNING, PAUSED, TERMINATED or ERROR).
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
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "wall_time_s",
]

# Keys of params.json that identify a trial rather than configure it.
IDENTITY_KEYS = ("name", "seed")

# Trial states, in the ``status`` column.
FINISHED = "finished"
STOPPED = "stopped"  # ended by a scheduler or stopper before its final evaluation
FAILED = "failed"
RUNNING = "running"
PENDING = "pending"
PAUSED = "paused"  # reported epochs, then queued again (Ray marks such trials PENDING on a resume)
UNKNOWN = "unknown"  # no final line and no experiment state to say why

# ``stop_reason`` of a trial that did not finish; a finished trial keeps the trainer's reason
# ('max_epochs', 'early_stopping' or 'diverged').
SCHEDULER = "scheduler"

STOP_REASON_LABELS = {
    "max_epochs": "finished (epoch budget)",
    "early_stopping": "early stopping",
    "diverged": "diverged",
    SCHEDULER: "stopped by the scheduler",
    FAILED: "failed",
    RUNNING: "still running (or its driver was stopped)",
    PENDING: "not started",
    PAUSED: "started, waiting to continue",
    UNKNOWN: "no final result; state unknown",
}

_RAY_STATUS = {"PENDING": PENDING, "RUNNING": RUNNING, "PAUSED": RUNNING, "ERROR": FAILED, "TERMINATED": STOPPED}


class ExperimentError(ValueError):
    """Raised when a folder is not a readable Ray Tune experiment of this project."""


def resolve_experiment_dir(path: str | os.PathLike) -> Path:
    """Return the Ray Tune experiment folder for ``path``: itself, or its ``experiment/`` subfolder.

    A command's output folder (such as the reproduce command's ``--output``) contains the
    experiment in ``experiment/``, so either folder may be passed.
    """
    root = Path(path)
    if not root.exists():
        raise ExperimentError(f"experiment folder not found: {root}; pass a folder written by the reproduce or search command")
    if not root.is_dir():
        raise ExperimentError(f"{root} is a file, not an experiment folder; pass the folder that contains the trial folders")
    if not _looks_like_experiment(root) and _looks_like_experiment(root / "experiment"):
        return root / "experiment"
    if not any(root.iterdir()):
        raise ExperimentError(f"experiment folder {root} is empty; the run may not have started, or wrote elsewhere")
    if not _looks_like_experiment(root):
        raise ExperimentError(
            f"{root} is not a Ray Tune experiment folder: it has no experiment_state-*.json and no "
            "trial folders with params.json; pass the folder that Ray Tune wrote the experiment to, "
            "such as OUTPUT/experiment"
        )
    return root


def experiment_kind(experiment_dir: Path) -> str:
    """Return 'search' or 'reproduce': which command wrote ``experiment_dir``, from its ``run.json``.

    The search command writes ``run.json`` (with ``num_samples``) into the experiment folder;
    the reproduce command writes it (with ``variants``) into the folder above. Returns
    'unknown' when neither is there.
    """
    for path, key, kind in ((experiment_dir / "run.json", "num_samples", "search"), (experiment_dir.parent / "run.json", "variants", "reproduce")):
        try:
            settings = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(settings, dict) and key in settings:
            return kind
    return "unknown"


def trial_dirs(experiment_dir: str | os.PathLike) -> list[Path]:
    """Return the trial folders (those with a ``params.json``) under ``experiment_dir``, sorted."""
    root = resolve_experiment_dir(experiment_dir)
    return sorted(path.parent for path in root.glob("*/params.json"))


def folders_without_params(experiment_dir: str | os.PathLike) -> list[str]:
    """Return the names of subfolders without ``params.json`` that the experiment state does not list either.

    Such folders are trial folders created but never written to, for example by a driver
    stopped just after Ray Tune created them.
    """
    root = resolve_experiment_dir(experiment_dir)
    listed = {state.get("logdir") for state in read_experiment_state(root).values()}
    return sorted(
        path.name for path in root.iterdir() if path.is_dir() and not (path / "params.json").exists() and path.name not in listed
    )


def read_experiment_state(experiment_dir: Path) -> dict[str, dict[str, Any]]:
    """Return {trial_id: {'status', 'logdir', 'config', 'error_file'}} from the newest experiment state.

    Ray Tune writes a new ``experiment_state-<timestamp>.json`` on each start or resume, so
    the newest file contains the latest statuses. Returns an empty dict when there is none.
    """
    # The name carries the session's start time (YYYY-MM-DD_HH-MM-SS, which sorts as text).
    # Modification times are no guide: a resumed run also rewrites the older sessions' files.
    states = sorted(experiment_dir.glob("experiment_state-*.json"), key=lambda path: path.name)
    if not states:
        return {}
    try:
        document = json.loads(states[-1].read_text())
    except json.JSONDecodeError as error:
        logger.warning("%s is unreadable (%s); trial states come from the trial folders only", states[-1], error)
        return {}

    trials = {}
    for entry in document.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry, list) else entry
        if isinstance(trial, str):
            trial = json.loads(trial)
        runtime = json.loads(entry[1]) if isinstance(entry, list) and len(entry) > 1 and isinstance(entry[1], str) else {}
        trials[trial["trial_id"]] = {
            "status": trial.get("status"),
            "logdir": trial.get("relative_logdir"),
            "config": trial.get("config", {}),
            "error_file": runtime.get("error_filename"),
        }
    return trials


def read_trial(
    trial_dir: Path, ray_status: str | None = None, trial_id: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (summary row, epoch rows) of one trial folder.

    ``ray_status`` and ``trial_id`` come from Ray Tune's experiment state, when known.
    """
    params = json.loads((trial_dir / "params.json").read_text())
    reports = _last_report_per_epoch(_read_json_lines(trial_dir / "result.json"))
    last = reports[-1] if reports else {}
    trial_id = trial_id or last.get("trial_id") or _trial_id_from_dirname(trial_dir.name)
    row = _summary_row(params, trial_id, reports)
    row["status"], row["stop_reason"] = trial_state(last, ray_status, has_error_file=_has_error_file(trial_dir))
    row["error"] = _first_error_line(trial_dir)
    row["trial_dir"] = str(trial_dir)

    # A finished trial resumed after a driver crash reports its last epoch again; keep one row per epoch.
    by_epoch = {report.get("epoch", index): report for index, report in enumerate(reports)}
    history = [
        {column: report.get(column) for column in HISTORY_COLUMNS}
        | {"name": row["name"], "trial_id": trial_id, "seed": params.get("seed")}
        for report in by_epoch.values()
    ]
    return row, history


def trial_state(last_report: dict[str, Any], ray_status: str | None, has_error_file: bool) -> tuple[str, str]:
    """Return (status, stop_reason) of a trial from its last report and Ray Tune's status."""
    if last_report.get("completed"):
        return FINISHED, str(last_report.get("stop_reason") or "max_epochs")
    if ray_status == "ERROR" or (ray_status is None and has_error_file):
        return FAILED, FAILED
    if ray_status == "TERMINATED":
        return STOPPED, SCHEDULER
    state = _RAY_STATUS.get(ray_status or "", UNKNOWN)
    if state == PENDING and last_report:
        state = PAUSED
    return state, state


def load_experiment(experiment_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (trials, history) DataFrames: one row per trial, and one row per trial epoch.

    Trials that Ray Tune lists but that have no folder yet (pending ones) get a row too.
    """
    root = resolve_experiment_dir(experiment_dir)
    states = read_experiment_state(root)
    rows, history = [], []
    seen = set()
    for trial_dir in trial_dirs(root):
        trial_id = _trial_id_for(trial_dir, states)
        row, epochs = read_trial(trial_dir, states.get(trial_id or "", {}).get("status"), trial_id)
        rows.append(row)
        history.extend(epochs)
        seen.add(row["trial_id"])

    for trial_id, state in states.items():
        if trial_id not in seen:
            rows.append(_row_without_folder(root, trial_id, state))

    trials = pd.DataFrame(rows)
    trials.insert(0, "experiment", str(root))
    trials.insert(1, "kind", experiment_kind(root))
    return trials, pd.DataFrame(history, columns=HISTORY_COLUMNS)


def flatten_config(params: dict[str, Any]) -> dict[str, Any]:
    """Flatten a trial's params.json into ``config/<key>`` and ``search/<key>`` columns of scalars.

    The ``trial`` mapping's keys come without prefix (``config/learning_rate``). A list of
    mappings (``conv_blocks``) gives its length under its own key and each item's fields
    under ``<key>.<index>.<field>``. A list of numbers becomes text such as ``32,64``.
    Other mappings (``training``) keep their key as prefix. Top-level scalars are the flat
    parameters that the search command's sampler chose, and become ``search/<key>``.
    ``name`` and ``seed`` identify the trial and are left out.
    """
    flat: dict[str, Any] = {}
    sampled: dict[str, Any] = {}
    for key, value in params.items():
        if key in IDENTITY_KEYS:
            continue
        if isinstance(value, (dict, list)):
            _flatten_into(flat, "" if key == "trial" else key, value)
        else:
            sampled[f"search/{key}"] = value
    return {f"config/{key}": value for key, value in flat.items()} | sampled


def _flatten_into(flat: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten_into(flat, f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        flat[prefix] = len(value)
        for index, item in enumerate(value):
            _flatten_into(flat, f"{prefix}.{index}", item)
    elif isinstance(value, list):
        flat[prefix] = ",".join(str(item) for item in value)
    else:
        flat[prefix] = value


def _summary_row(params: dict[str, Any], trial_id: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
    last = reports[-1] if reports else {}
    row: dict[str, Any] = {
        "name": params.get("name") or trial_id,
        "trial_id": trial_id,
        "seed": params.get("seed"),
        "epochs_reported": len(reports),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
    }
    for column in FINAL_COLUMNS:
        row[column] = last.get(column)
    if row["params"] is None:
        row["params"] = next((report["params"] for report in reports if report.get("params")), None)
    row["epochs_run"] = last.get("epochs_run", len({report.get("epoch") for report in reports}))
    if row["wall_time_s"] is None:
        row["wall_time_s"] = last.get("elapsed_s")
    row.update(flatten_config(params))
    return row


def _row_without_folder(root: Path, trial_id: str, state: dict[str, Any]) -> dict[str, Any]:
    config = state.get("config") or {}
    row = _summary_row(config, trial_id, [])
    row["status"], row["stop_reason"] = trial_state({}, state.get("status"), has_error_file=False)
    row["error"] = None
    row["trial_dir"] = str(root / (state.get("logdir") or trial_id))
    return row


def _trial_id_for(trial_dir: Path, states: dict[str, dict[str, Any]]) -> str | None:
    for trial_id, state in states.items():
        if state.get("logdir") == trial_dir.name:
            return trial_id
    return None


def _trial_id_from_dirname(dirname: str) -> str:
    # tuning.trial_dirname names folders '<label>_<trial_id>', and trial ids look like 'be1b3_00002'.
    parts = dirname.rsplit("_", 2)
    return "_".join(parts[-2:]) if len(parts) == 3 else dirname


def _looks_like_experiment(folder: Path) -> bool:
    return folder.is_dir() and (any(folder.glob("experiment_state-*.json")) or any(folder.glob("*/params.json")))


def _has_error_file(trial_dir: Path) -> bool:
    return (trial_dir / "error.txt").exists() or (trial_dir / "error.pkl").exists()


def _first_error_line(trial_dir: Path) -> str | None:
    path = trial_dir / "error.txt"
    if not path.exists():
        return None
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    # Ray writes the traceback with the exception last; its last line names the error.
    return lines[-1][:300] if lines else None


def _last_report_per_epoch(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated reports of an epoch, keeping the last.

    A trial that finished just before its driver was killed reports its last epoch again
    after the resume (see ``trainable.FINAL_METRICS_FILE``), without training it again.
    """
    by_epoch: dict[Any, dict[str, Any]] = {}
    for report in reports:
        by_epoch[report.get("epoch", len(by_epoch))] = report
    return list(by_epoch.values())


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
