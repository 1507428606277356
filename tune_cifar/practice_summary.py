"""``summary.md``: the practice's questions answered with a run's numbers."""

from __future__ import annotations

import pandas as pd

from tune_cifar.practice import PRACTICE_ORDER


def _row(results: pd.DataFrame, name: str) -> pd.Series | None:
    rows = results[(results["name"] == name) & results["test_accuracy"].notna()]
    return None if rows.empty else rows.iloc[0]


def _accuracy(row: pd.Series | None) -> str:
    return "not run" if row is None else f"{row['test_accuracy']:.2%}"


def _compare(results: pd.DataFrame, new: str, old: str) -> str:
    """One sentence comparing variant ``new`` with ``old`` in accuracy, parameters and time."""
    a, b = _row(results, new), _row(results, old)
    if a is None or b is None:
        missing = " and ".join(name for name, row in ((new, a), (old, b)) if row is None)
        return f"Not answered: {missing} has no test result in this run."
    gain = (a["test_accuracy"] - b["test_accuracy"]) * 100
    param_ratio = a["params"] / b["params"]
    time_ratio = a["wall_time_s"] / b["wall_time_s"]
    return (
        f"{new} reaches {a['test_accuracy']:.2%} test accuracy against {b['test_accuracy']:.2%} for {old} "
        f"({gain:+.2f} percentage points), with {a['params']:,} against {b['params']:,} parameters "
        f"({param_ratio:.2f}x) and {a['wall_time_s']:.0f} s against {b['wall_time_s']:.0f} s of training "
        f"({time_ratio:.2f}x; {int(a['epochs_run'])} against {int(b['epochs_run'])} epochs)."
    )


def results_table(results: pd.DataFrame) -> str:
    """Return the per-variant results as a Markdown table."""
    lines = [
        "| variant | params | epochs run | stopped early | train acc | test acc | test loss | wall time (s) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for _, row in results.iterrows():
        def fmt(value, spec):
            return "n/a" if pd.isna(value) else format(value, spec)

        lines.append(
            f"| {row['name']} | {fmt(row['params'], ',')} | {fmt(row['epochs_run'], '.0f')} | "
            f"{row['stopped_early']} | {fmt(row['train_accuracy'], '.4f')} | {fmt(row['test_accuracy'], '.4f')} | "
            f"{fmt(row['test_loss'], '.4f')} | {fmt(row['wall_time_s'], '.1f')} |"
        )
    return "\n".join(lines)


def write_summary(results: pd.DataFrame, path, run_description: str) -> str:
    """Write ``summary.md`` for ``results`` (one row per variant) and return its text."""
    ordered = results.assign(_order=results["name"].map({n: i for i, n in enumerate(PRACTICE_ORDER)}))
    ordered = ordered.sort_values("_order", na_position="last").drop(columns="_order")
    q2, q3 = _row(results, "q2"), _row(results, "q3")
    text = "\n".join(
        [
            "# CIFAR-10 practice: results",
            "",
            run_description,
            "",
            results_table(ordered),
            "",
            "## Answers",
            "",
            f"- **Q2** (Q1 with at most 50 epochs): test accuracy {_accuracy(q2)}.",
            f"- **Q3** (learning rate 1e-4, batch size 32): test accuracy {_accuracy(q3)}.",
            f"- **Q4 against the original**: {_compare(results, 'q4', 'original')}",
            f"- **Extra against Q3**: {_compare(results, 'extra', 'q3')}",
            "",
            "Wall time counts training, validation and the final evaluation of each trial, "
            "not Ray start-up. One seed per variant gives no estimate of seed-to-seed noise, "
            "so differences of a point or less may not be real.",
            "",
        ]
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text
