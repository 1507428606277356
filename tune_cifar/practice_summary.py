"""The practice's questions answered with a run's numbers, for ``summary.md`` and the report.

The answers compare variants with ``verdicts.compare``, so the summary and the report state
the same numbers and verdicts.
"""

from __future__ import annotations

import pandas as pd

from tune_cifar.analysis import variant_statistics, with_metric
from tune_cifar.practice import PRACTICE_ORDER
from tune_cifar.verdicts import RULES, Comparison, compare

# (question, new variant, old variant): what each practice step is compared against.
COMPARISONS = (
    ("Q1 against the original", "q1", "original"),
    ("Q2 against Q1", "q2", "q1"),
    ("Q3 against Q2", "q3", "q2"),
    ("Q4 against the original", "q4", "original"),
    ("Extra against Q3", "extra", "q3"),
)
# The comparisons the practice asks for by name; the others fill the comparison table.
ASKED = ("Q4 against the original", "Extra against Q3")


def variant_rows(trials: pd.DataFrame, name: str, metric: str) -> pd.DataFrame:
    """Return the trials (one per seed) of practice variant ``name`` that have ``metric``."""
    return with_metric(trials[trials["practice"] & (trials["name"] == name)], metric)


def compare_variants(trials: pd.DataFrame, new: str, old: str, metric: str) -> Comparison | str:
    """Return the comparison of variant ``new`` with ``old``, or a sentence saying what is missing."""
    new_rows, old_rows = variant_rows(trials, new, metric), variant_rows(trials, old, metric)
    missing = [name for name, rows in ((new, new_rows), (old, old_rows)) if rows.empty]
    if missing:
        label = metric.replace("_", " ")
        return f"Not answered: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no {label} in this run."
    return compare(new, new_rows, old, old_rows, metric)


def accuracy_text(trials: pd.DataFrame, name: str, metric: str) -> str:
    """Return a variant's accuracy as 'mean ± std over N seeds', or say that it has none."""
    table = variant_statistics(trials, metric)
    if name not in table.index:
        return f"not answered: {name} has no {metric.replace('_', ' ')} in this run"
    row = table.loc[name]
    if row["seeds"] < 2:
        return f"{row['mean']:.2%} (one seed, so no noise estimate)"
    return f"{row['mean']:.2%} ± {row['std'] * 100:.2f} pp (mean ± sample std over {int(row['seeds'])} seeds)"


def comparison_text(comparison: Comparison | str) -> str:
    """Return one paragraph with the comparison's numbers and verdicts."""
    if isinstance(comparison, str):
        return comparison
    c = comparison
    return (
        f"{c.new} reaches {c.new_accuracy:.2%}{_spread(c.new_std, c.new_seeds)} against "
        f"{c.old_accuracy:.2%}{_spread(c.old_std, c.old_seeds)} for {c.old} ({c.gain_pp:+.2f} percentage points, "
        f"{c.noise.describe()}), with {c.new_params:,.0f} against {c.old_params:,.0f} parameters "
        f"({c.param_ratio:.3g}x) and {c.new_time_s:.1f} s against {c.old_time_s:.1f} s of wall time "
        f"({c.time_ratio:.3g}x). Verdict: **{c.accuracy_verdict}**; **{c.worth_verdict}**."
    )


def practice_answers(trials: pd.DataFrame, metric: str) -> list[str]:
    """Return the practice's answers as Markdown list items, in the order the practice asks."""
    comparisons = {question: compare_variants(trials, new, old, metric) for question, new, old in COMPARISONS}
    return [
        f"**Q2** (Q1 with at most 50 epochs): {_label(metric)} {accuracy_text(trials, 'q2', metric)}.",
        f"**Q3** (learning rate 1e-4, batch size 32): {_label(metric)} {accuracy_text(trials, 'q3', metric)}.",
        *(f"**{question}**: {comparison_text(comparisons[question])}" for question in ASKED),
    ]


def results_table(results: pd.DataFrame) -> str:
    """Return the per-trial results as a Markdown table."""
    lines = [
        "| variant | seed | params | epochs run | stop reason | train acc | test acc | test loss | wall time (s) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for _, row in results.iterrows():
        lines.append(
            f"| {row['name']} | {_format(row['seed'], '')} | {_format(row['params'], ',.0f')} | "
            f"{_format(row['epochs_run'], '.0f')} | {row['stop_reason']} | {_format(row['train_accuracy'], '.4f')} | "
            f"{_format(row['test_accuracy'], '.4f')} | {_format(row['test_loss'], '.4f')} | {_format(row['wall_time_s'], '.1f')} |"
        )
    return "\n".join(lines)


def write_summary(trials: pd.DataFrame, path, run_description: str) -> str:
    """Write ``summary.md`` for ``trials`` (one row per variant and seed) and return its text."""
    trials = trials.assign(practice=trials["name"].isin(PRACTICE_ORDER))
    ordered = trials.assign(_order=trials["name"].map({n: i for i, n in enumerate(PRACTICE_ORDER)}))
    ordered = ordered.sort_values(["_order", "seed"], na_position="last").drop(columns="_order")
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
            *(f"- {answer}" for answer in practice_answers(trials, "test_accuracy")),
            "",
            "Wall time counts training, validation and the final evaluation of each trial, "
            "not Ray start-up.",
            "",
            "## Verdict rules",
            "",
            *(f"- {rule}" for rule in RULES),
            "",
        ]
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text


def _label(metric: str) -> str:
    return metric.replace("_", " ")


def _spread(std: float | None, seeds: int) -> str:
    return "" if std is None else f" (± {std * 100:.2f} pp, {seeds} seeds)"


def _format(value, spec: str) -> str:
    return "n/a" if pd.isna(value) else format(value, spec)
