"""``python -m tune_cifar.report EXPERIMENT_DIR... --output DIR``: accuracy against cost.

Reads one or more experiment folders of the reproduce or search command and writes, into
``--output``: ``trials.csv``/``.parquet`` (one row per trial), ``history.csv``/``.parquet``
(one row per trial epoch), PNG figures in ``figures/``, ``report.md`` and a self-contained
``report.html``. Folders or trials without results are listed in the report with their state.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from tune_cifar import plots
from tune_cifar.analysis import (
    AnalysisError,
    Experiments,
    choose_metric,
    hyperparameter_columns,
    hyperparameter_importances,
    load_experiments,
    pareto_front,
    variant_statistics,
    with_metric,
    without_metric,
)
from tune_cifar.practice import PRACTICE_ORDER
from tune_cifar.practice_summary import COMPARISONS, compare_variants, comparison_text, practice_answers, variant_rows
from tune_cifar.report_format import Block, BulletList, Heading, Image, Paragraph, Table, to_html, to_markdown
from tune_cifar.verdicts import RULES, Comparison, compare

logger = logging.getLogger(__name__)

FIGURES_DIR = "figures"
COSTS = {"params": "parameter count", "wall_time_s": "wall time"}


@dataclass(frozen=True)
class Report:
    """Paths of a written report, with the experiments and metric it was made from."""

    markdown: Path
    html: Path
    experiments: Experiments
    metric: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tune_cifar.report",
        description="Write an accuracy-against-cost report (Markdown and self-contained HTML, with "
        "CSV/Parquet tables and PNG figures) for experiments of the reproduce or search command.",
    )
    parser.add_argument("experiments", nargs="+", type=Path, metavar="EXPERIMENT_DIR",
                        help="Ray Tune experiment folder, or a command's output folder that contains experiment/")
    parser.add_argument("--output", type=Path, required=True, help="folder for the report, tables and figures")
    parser.add_argument("--metric", choices=("test_accuracy", "val_accuracy"),
                        help="accuracy to rank by (default: test accuracy when any trial has it, else validation accuracy)")
    parser.add_argument("--top", type=int, default=5, help="search trials shown as best configurations (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.top < 1:
        print(f"error: --top must be >= 1, got {args.top}", file=sys.stderr)
        return 2
    try:
        report = write_report(args.experiments, args.output, args.metric, args.top)
    except AnalysisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(f"report: {report.markdown}\nhtml:   {report.html}")
    for message in report.experiments.problems + report.experiments.notes:
        print(f"warning: {message}", file=sys.stderr)
    return 1 if report.experiments.problems else 0


def write_report(folders: Sequence[Path], output: Path, metric: str | None = None, top: int = 5) -> Report:
    """Load ``folders`` and write the tables, figures, report.md and report.html into ``output``."""
    experiments = load_experiments(folders)
    metric = choose_metric(experiments.trials, metric)
    (output / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    write_tables(experiments, output)

    blocks = report_blocks(experiments, metric, output / FIGURES_DIR, top)
    title = "Accuracy against cost: " + ", ".join(Path(folder).name for folder in folders)
    markdown = output / "report.md"
    markdown.write_text(to_markdown([Heading(title, 1), *blocks], output), encoding="utf-8")
    page = output / "report.html"
    page.write_text(to_html([Heading(title, 1), *blocks], title), encoding="utf-8")
    logger.info("report written to %s and %s", markdown, page)
    return Report(markdown, page, experiments, metric)


def write_tables(experiments: Experiments, output: Path) -> None:
    """Write the trials and history frames as CSV and Parquet."""
    for name, frame in (("trials", experiments.trials), ("history", experiments.history)):
        frame.to_csv(output / f"{name}.csv", index=False)
        frame.to_parquet(output / f"{name}.parquet", index=False)


def report_blocks(experiments: Experiments, metric: str, figures: Path, top: int) -> list[Block]:
    """Return the report's sections in reading order."""
    trials = experiments.trials
    ranked = with_metric(trials, metric)
    blocks: list[Block] = [Paragraph(_sources_text(experiments, metric))]
    blocks += _missing_section(experiments, metric)
    if ranked.empty:
        return blocks + [Paragraph(f"No trial has a {_label(metric)} yet, so there is nothing to rank or plot.")]

    blocks += _trials_section(ranked, metric)
    blocks += _pareto_section(ranked, metric, figures)
    # Each reproduce experiment has its own epoch budgets and seeds, so its variants are
    # compared only with each other. Pooling two runs would count them as extra seeds.
    practice_runs = list(ranked[ranked["practice"]].groupby("experiment", sort=False))
    for index, (folder, run) in enumerate(practice_runs):
        suffix = "" if len(practice_runs) == 1 else f"_{index + 1}"
        title = None if len(practice_runs) == 1 else _experiment_title(str(folder))
        blocks += _practice_section(experiments, trials[trials["experiment"] == folder], run, metric, figures / f"practice_loss_curves{suffix}.png", title)
    if (~trials["practice"]).any():
        blocks += _search_section(experiments, ranked, metric, figures, top)
    blocks += [Heading("Verdict rules"), BulletList(RULES)]
    return blocks


def _sources_text(experiments: Experiments, metric: str) -> str:
    lines = []
    for folder, group in experiments.trials.groupby("experiment", sort=False):
        states = ", ".join(f"{count} {state}" for state, count in group["status"].value_counts().items())
        lines.append(f"`{folder}` ({len(group)} trials: {states})")
    return (
        "Experiments: " + "; ".join(lines) + f". Trials are ranked by **{_label(metric)}**. Wall time is a "
        "trial's training, validation and final evaluation, without Ray start-up. A trial that shared the "
        "CPUs with other trials or jobs took longer, so wall times compare best within one experiment."
    )


def _missing_section(experiments: Experiments, metric: str) -> list[Block]:
    missing = without_metric(experiments.trials, metric)
    messages = tuple(experiments.problems + experiments.notes)
    if missing.empty and not messages:
        return []
    blocks: list[Block] = [Heading("Inputs and trials without results")]
    if messages:
        blocks.append(BulletList(messages))
    if not missing.empty:
        blocks.append(Paragraph(f"These trials have no {_label(metric)} and are left out of the tables and figures below."))
        rows = tuple(
            (str(row["name"]), str(row["trial_id"]), _fmt(row["seed"], ""), str(row["stop_reason_label"]),
             str(int(row["epochs_reported"])), _fmt(row["val_accuracy"], ".2%"), str(row["error"] or ""))
            for _, row in missing.iterrows()
        )
        headers = ("name", "trial id", "seed", "state", "epochs reported", "last val accuracy", "error")
        blocks.append(Table(headers, rows, (False, False, True, False, True, True, False)))
    return blocks


def _trials_section(ranked: pd.DataFrame, metric: str) -> list[Block]:
    front_params = pareto_front(ranked, "params", metric)
    front_time = pareto_front(ranked, "wall_time_s", metric)
    rows = []
    for rank, (index, row) in enumerate(ranked.iterrows(), start=1):
        marks = "".join(mark for mark, on in (("P", front_params[index]), ("T", front_time[index])) if on)
        rows.append((
            str(rank), str(row["name"]), str(row["trial_id"]), _fmt(row["seed"], ""), _fmt(row["params"], ",.0f"),
            _fmt(row["epochs_run"], ".0f"), str(row["stop_reason_label"]), _fmt(row["train_accuracy"], ".2%"),
            _fmt(row["val_accuracy"], ".2%"), _fmt(row["test_accuracy"], ".2%"), _fmt(row["test_loss"], ".4f"),
            _fmt(row["wall_time_s"], ".1f"), marks,
        ))
    headers = ("rank", "name", "trial id", "seed", "params", "epochs", "stop reason", "train acc", "val acc",
               "test acc", "test loss", "wall time (s)", "Pareto")
    numeric = (True, False, False, True, True, True, False, True, True, True, True, True, False)
    return [
        Heading(f"Trials by {_label(metric)}"),
        Paragraph("Pareto column: P when no other trial is as accurate with fewer parameters, T likewise for wall time."),
        Table(headers, tuple(rows), numeric),
    ]


def _pareto_section(ranked: pd.DataFrame, metric: str, figures: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Pareto set")]
    for cost, label in COSTS.items():
        on_front = pareto_front(ranked, cost, metric)
        front = ranked[on_front].sort_values(cost)
        items = tuple(f"{row['name']} (`{row['trial_id']}`): {row[metric]:.2%} at {_cost_text(cost, row[cost])}" for _, row in front.iterrows())
        path = figures / f"accuracy_vs_{cost}.png"
        plots.plot_accuracy_vs_cost(ranked, cost, metric, on_front, path, f"{_label(metric)} against {label}")
        blocks += [
            Paragraph(f"Against **{label}**, from cheapest to most accurate:"),
            BulletList(items),
            Image(path, f"{_label(metric)} against {label}; the red steps join the Pareto front."),
        ]
    return blocks


def _experiment_title(folder: str) -> str:
    """Name a reproduce run by its output folder, since its experiment folder is always 'experiment'."""
    path = Path(folder)
    return path.parent.name if path.name == "experiment" and path.parent.name else path.name


def _practice_section(
    experiments: Experiments, trials: pd.DataFrame, ranked: pd.DataFrame, metric: str, path: Path, title: str | None
) -> list[Block]:
    """Answer the practice from one reproduce experiment's ``trials``; ``title`` names it when there are several."""
    table = variant_statistics(trials, metric)
    stats_rows = tuple(
        (name, str(int(row["seeds"])), f"{row['mean']:.2%}", "n/a" if pd.isna(row["std"]) else f"{row['std'] * 100:.2f}",
         f"{row['params']:,.0f}", f"{row['epochs_run']:.1f}", f"{row['wall_time_s']:.1f}")
        for name, row in table.iterrows()
    )
    blocks: list[Block] = [
        Heading("Practice answers" if title is None else f"Practice answers: {title}"),
        BulletList(tuple(practice_answers(trials, metric))),
        Heading("Seeds per variant", 3),
        Paragraph(_seed_note(table)),
        Table(("variant", "seeds", f"mean {_label(metric)}", "std (pp)", "params", "mean epochs", "mean wall time (s)"),
              stats_rows, (False,) + (True,) * 6),
        Heading("Each practice step", 3),
        _comparison_table([compare_variants(trials, new, old, metric) for _, new, old in COMPARISONS],
                          [question for question, _, _ in COMPARISONS]),
    ]

    practice = ranked[ranked["practice"]]
    panels = [(name, list(practice.loc[practice["name"] == name, "trial_id"])) for name in PRACTICE_ORDER if name in table.index]
    plots.plot_loss_grid(experiments.history, panels, path, "Practice variants: loss by epoch")
    blocks.append(Image(path, "Training (solid) and validation (dashed) loss by epoch, one panel per practice variant; one colour per seed."))
    return blocks


def _search_section(experiments: Experiments, ranked: pd.DataFrame, metric: str, figures: Path, top: int) -> list[Block]:
    search = ranked[~ranked["practice"]]
    blocks: list[Block] = [Heading("Search")]
    if search.empty:
        return blocks + [Paragraph(f"No search trial has a {_label(metric)}.")]

    best = search.head(top)
    columns = hyperparameter_columns(experiments.trials[~experiments.trials["practice"]])
    blocks += [Heading(f"Best {len(best)} configurations", 3), _configuration_table(best, columns, metric)]
    blocks += _against_practice(experiments.trials, best, metric)
    blocks += _seeded_practice_answers(experiments.trials, metric)

    path = figures / "search_loss_curves.png"
    panels = [(f"{row['name']} ({row['trial_id']}): {row[metric]:.2%}", [row["trial_id"]]) for _, row in best.iterrows()]
    plots.plot_loss_grid(experiments.history, panels, path, f"Best {len(best)} search trials: loss by epoch")
    blocks.append(Image(path, "Training (solid) and validation (dashed) loss of the best search trials."))
    blocks += _hyperparameter_blocks(experiments.trials[~experiments.trials["practice"]], columns, figures)
    return blocks


def _against_practice(trials: pd.DataFrame, best: pd.DataFrame, metric: str) -> list[Block]:
    reference = _practice_reference(trials, metric)
    if reference is None:
        return [Paragraph("No practice variant is among the loaded experiments, so the search is not compared with one.")]
    label, rows, where = reference
    comparisons = [
        compare(_trial_label(row), best.loc[[index]], label, rows, metric)
        for index, row in best.iterrows()
        if row["trial_id"] not in set(rows["trial_id"])
    ]
    if not comparisons:
        return [Paragraph(f"The best search trials are the practice reference **{label}** itself ({where}).")]
    return [
        Paragraph(f"Each best configuration against the best practice variant, **{label}** ({where}):"),
        _comparison_table(comparisons, [comparison.new for comparison in comparisons]),
        BulletList(tuple(comparison_text(comparison) for comparison in comparisons)),
    ]


def _seeded_practice_answers(trials: pd.DataFrame, metric: str) -> list[Block]:
    """Answer the practice again from the variants seeded into each search, which share its epoch cap."""
    blocks: list[Block] = []
    for folder, group in trials[~trials["practice"]].groupby("experiment", sort=False):
        seeded = group[group["name"].isin(PRACTICE_ORDER)].assign(practice=True)
        if seeded["name"].nunique() < 2:
            continue
        blocks += [
            Heading(f"Practice answers from the variants seeded into `{Path(folder).name}`", 3),
            Paragraph("These trials ran inside the search, under its epoch cap and scheduler, so a variant "
                      "the scheduler stopped has no test accuracy here."),
            BulletList(tuple(practice_answers(seeded, metric))),
        ]
    return blocks


def _practice_reference(trials: pd.DataFrame, metric: str) -> tuple[str, pd.DataFrame, str] | None:
    """Return (label, trials, where) of the most accurate practice variant to compare a search with.

    A variant seeded into the search ran under the search's epoch cap and data, so it is
    preferred. Without one, the best variant of a loaded reproduce run is used.
    """
    seeded = with_metric(trials[~trials["practice"] & trials["name"].isin(PRACTICE_ORDER)], metric)
    if not seeded.empty:
        name = str(seeded.groupby("name")[metric].mean().idxmax())
        return name, seeded[seeded["name"] == name], "seeded into the search, same epoch cap"
    table = variant_statistics(trials, metric)
    if table.empty:
        return None
    name = str(table["mean"].idxmax())
    return name, variant_rows(trials, name, metric), "from the reproduce run"


def _hyperparameter_blocks(search: pd.DataFrame, columns: list[str], figures: Path) -> list[Block]:
    # Scheduler-stopped trials rarely have test metrics, so the hyperparameter views use the
    # validation accuracy of each trial's last reported epoch.
    metric = "val_accuracy"
    usable = search.dropna(subset=[metric])
    columns = [column for column in columns if column in hyperparameter_columns(usable)]
    if not columns or usable.empty:
        return [Paragraph("No hyperparameter varies between the search trials with results.")]
    blocks: list[Block] = [Heading("Hyperparameters", 3)]
    path = figures / "accuracy_vs_hyperparameters.png"
    plots.plot_metric_vs_hyperparameters(usable, columns, metric, path)
    blocks.append(Image(path, "Validation accuracy at each trial's last reported epoch against each hyperparameter."))

    finished = usable[usable["status"] == "finished"]
    source = "finished search trials" if len(finished) >= 3 else "search trials with a validation accuracy, finished or not"
    importances = hyperparameter_importances(finished if len(finished) >= 3 else usable, metric)
    if not importances:
        return blocks + [Paragraph("Too few trials (fewer than 3) or hyperparameters (fewer than 2) for importances.")]
    path = figures / "importances.png"
    plots.plot_importances(importances, metric, path)
    rows = tuple((name.split("/", 1)[1], f"{value:.3f}") for name, value in importances.items())
    return blocks + [
        Table(("hyperparameter", "importance"), rows, (False, True)),
        Image(path, f"Optuna PED-ANOVA importances for validation accuracy, from the {source}."),
    ]


def _configuration_table(best: pd.DataFrame, columns: list[str], metric: str) -> Table:
    names = (column.split("/", 1)[1] for column in columns)
    headers = ("name", "trial id", _label(metric), "params", "wall time (s)", *names)
    rows = tuple(
        (str(row["name"]), str(row["trial_id"]), f"{row[metric]:.2%}", _fmt(row["params"], ",.0f"), _fmt(row["wall_time_s"], ".1f"),
         *(_hyperparameter_text(row[column]) for column in columns))
        for _, row in best.iterrows()
    )
    return Table(headers, rows, (False, False, True, True, True, *(False for _ in columns)))


def _comparison_table(comparisons: list[Comparison | str], labels: list[str]) -> Table:
    rows = []
    for label, comparison in zip(labels, comparisons):
        if isinstance(comparison, str):
            rows.append((label, "", "", "", "", comparison, ""))
            continue
        rows.append((
            label, f"{comparison.gain_pp:+.2f}", f"{comparison.param_ratio:.3g}x", f"{comparison.time_ratio:.3g}x",
            comparison.noise.describe(), comparison.accuracy_verdict, comparison.worth_verdict,
        ))
    headers = ("comparison", "accuracy gain (pp)", "parameter ratio", "time ratio", "against seed noise", "verdict", "worth it?")
    return Table(headers, tuple(rows), (False, True, True, True, False, False, False))


def _hyperparameter_text(value) -> str:
    # Columns with missing values (conditional blocks) turn integers into floats such as 32.0.
    if value is None or pd.isna(value):
        return "n/a"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return _fmt(value, "")


def _seed_note(table: pd.DataFrame) -> str:
    if (table["seeds"] >= 2).all():
        return "Each variant ran with several seeds; std is the sample standard deviation across seeds."
    return ("At least one variant ran with a single seed, so its comparisons carry no noise estimate; "
            "`python -m tune_cifar.reproduce --seeds 3` repeats each variant with three seeds.")


def _trial_label(row: pd.Series) -> str:
    return f"{row['name']} ({row['trial_id']})" if row["name"] != row["trial_id"] else str(row["name"])


def _cost_text(cost: str, value: float) -> str:
    return f"{value:,.0f} parameters" if cost == "params" else f"{value:.1f} s"


def _label(metric: str) -> str:
    return metric.replace("_", " ")


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
