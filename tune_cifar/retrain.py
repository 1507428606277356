"""``python -m tune_cifar.retrain TRIAL_DIR``: retrain one trial alone, without Ray, from its folder.

The trial's ``trial_meta.json`` (in the trial folder, or in its newest checkpoint when the
trial ran on another node) gives the resolved config, seed, training options and CPU
thread count, so the retrained model gets the same initial weights, batch order and
dropout masks. On the same hardware and thread count the per-epoch metrics match the
trial's ``result.json``; the command prints both and their largest difference. A trial
that the scheduler (ASHA) stopped early is retrained to its own end, and only the epochs
both runs have are compared.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from tune_cifar.config import ConfigError, TrialConfig
from tune_cifar.data import DataError, load_cifar10
from tune_cifar.training import DeviceData, EpochRecord, Trainer, TrainingOptions, TrialOutcome, fit

logger = logging.getLogger("tune_cifar.retrain")

META_FILE = "trial_meta.json"
COMPARED_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tune_cifar.retrain",
        description="Retrain one Ray Tune trial alone, outside Ray, with its config, seed and data order, "
        "and compare the epochs with the trial's result.json.",
    )
    parser.add_argument("trial_dir", type=Path, help="the trial's folder inside the experiment folder")
    parser.add_argument("--data-dir", type=Path, help="CIFAR-10 folder (default: the data_dir recorded in trial_meta.json)")
    parser.add_argument("--cache-dir", type=Path, help="where decoded arrays are cached (default: ~/.cache/tune_cifar/arrays)")
    parser.add_argument("--output", type=Path, help="JSON file for the retrained history (default: TRIAL_DIR/retrain.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return _run(args)
    except (ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def read_meta(trial_dir: Path) -> dict[str, Any]:
    """Return the trial's metadata from its folder, else from its newest checkpoint."""
    candidates = [trial_dir / META_FILE, *sorted(trial_dir.glob(f"checkpoint_*/{META_FILE}"), reverse=True)]
    for path in candidates:
        if path.is_file():
            return json.loads(path.read_text())
    raise ConfigError(
        f"{trial_dir}: no {META_FILE} in the folder or its checkpoints; pass a trial folder that "
        "python -m tune_cifar.search or tune_cifar.reproduce wrote"
    )


def retrain(meta: dict[str, Any], data: Any, on_epoch=None) -> TrialOutcome:
    """Train the trial that ``meta`` describes from scratch, on the device and thread count it used."""
    config = TrialConfig.from_dict(meta["trial"], source=f"{META_FILE} of trial {meta.get('trial_id')}")
    torch.set_num_threads(int(meta.get("threads") or 1))
    options = TrainingOptions(**meta.get("training", {}))
    device = torch.device(meta.get("device") or "cpu")
    trainer = Trainer(config, DeviceData(data, device, options.channels_last), int(meta["seed"]), options)
    return fit(trainer, on_epoch=on_epoch, trial_name=str(meta.get("name") or meta.get("trial_id")))


def read_reported_epochs(trial_dir: Path) -> list[dict[str, Any]]:
    """Return the per-epoch reports of the trial's result.json (empty if it has none)."""
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def largest_difference(history: list[EpochRecord], reported: list[dict[str, Any]]) -> float:
    """Return the largest absolute difference of the compared metrics over the common epochs."""
    differences = [
        abs(getattr(record, metric) - report[metric])
        for record, report in zip(history, reported)
        for metric in COMPARED_METRICS
        if isinstance(report.get(metric), (int, float)) and math.isfinite(report[metric])
    ]
    return max(differences, default=math.nan)


def _run(args: argparse.Namespace) -> int:
    trial_dir: Path = args.trial_dir
    meta = read_meta(trial_dir)
    data_dir = args.data_dir or meta.get("data_dir")
    if data_dir is None:
        raise ConfigError(f"{trial_dir}/{META_FILE} records no data_dir; pass --data-dir")
    data = load_cifar10(data_dir, cache_dir=args.cache_dir)
    reported = read_reported_epochs(trial_dir)

    def print_epoch(trainer: Trainer, record: EpochRecord, outcome: TrialOutcome | None) -> None:
        line = "  ".join(f"{metric} {getattr(record, metric):.6f}" for metric in COMPARED_METRICS)
        print(f"epoch {record.epoch}: {line}")
        if record.epoch <= len(reported):
            trial_line = "  ".join(f"{metric} {reported[record.epoch - 1].get(metric, math.nan):.6f}" for metric in COMPARED_METRICS)
            print(f"  trial: {trial_line}")

    outcome = retrain(meta, data, on_epoch=print_epoch)
    output = args.output or trial_dir / "retrain.json"
    result = asdict(outcome)
    result["largest_difference"] = largest_difference(outcome.history, reported)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{outcome.epochs_run} epochs ({outcome.stop_reason}); test_accuracy {outcome.test_accuracy}")
    if reported:
        print(f"largest difference from the trial's result.json: {result['largest_difference']:.3g}")
    print(f"history: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
