"""The open search space: a YAML file parsed into Optuna distributions and a define-by-run function.

A space file has these top-level keys:

- ``parameters``: parameter name to a distribution, such as
  ``learning_rate: {distribution: float, low: 1.0e-5, high: 1.0e-2, log: true}``;
- ``fixed``: parameter name to a constant, for parameters the search does not vary;
- ``seeded_variants``: names of practice variants (``search_spaces/practice.yaml``) that the
  study evaluates first, as fixed points. Omitted means all variants; ``[]`` means none.

Parameter names are flat, so that Optuna, Ray Tune's ``points_to_evaluate`` and the results
table share them: ``num_blocks``, ``block<B>_filters<C>`` (output channels of convolution C
of conv block B), ``block<B>_dropout``, ``dense_units``, ``dense_dropout``, ``learning_rate``,
``batch_size``, ``max_epochs`` and ``patience``. A block's convolution count is the number of
``block<B>_filters<C>`` names the file gives it. Parameters of block B are sampled only
when the sampled ``num_blocks`` is at least B, which is why the space is define-by-run.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tune_cifar.config import ConfigError, TrialConfig
from tune_cifar.practice import PRACTICE_FILE, SEARCH_SPACES_DIR, Variant, load_variants, read_yaml

OPEN_SPACE_FILE = SEARCH_SPACES_DIR / "open.yaml"
SAMPLED_NAME = "sampled"
"""Name of trials that the sampler chose, as opposed to seeded variants; it prefixes their folders."""

DISTRIBUTIONS = ("categorical", "float", "int")
TOP_LEVEL_KEYS = ("parameters", "fixed", "seeded_variants")
SCALAR_PARAMETERS = (
    "num_blocks",
    "dense_units",
    "dense_dropout",
    "learning_rate",
    "batch_size",
    "max_epochs",
    "patience",
)
REQUIRED_PARAMETERS = ("learning_rate", "batch_size", "dense_units", "max_epochs", "block1_filters1")
DEFAULTS = {"num_blocks": 1, "dense_dropout": 0.0, "patience": 1}
"""Values of optional parameters that the file neither searches nor fixes."""

_BLOCK_FILTERS = re.compile(r"block([1-9])_filters([1-9])$")
_BLOCK_DROPOUT = re.compile(r"block([1-9])_dropout$")
_SPEC_KEYS = {
    "categorical": ("distribution", "choices"),
    "float": ("distribution", "low", "high", "log", "step"),
    "int": ("distribution", "low", "high", "log", "step"),
}


@dataclass(frozen=True)
class Distribution:
    """One searched parameter's distribution, in the terms of Optuna's ``suggest_*`` calls."""

    kind: str
    """'categorical', 'float' or 'int'."""
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def contains(self, value: Any) -> bool:
        """Return whether ``value`` is one the distribution can produce."""
        if self.kind == "categorical":
            return any(_same_value(value, choice) for choice in self.choices)
        if not _is_number(value) or (self.kind == "int" and not isinstance(value, int)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return math.isclose(steps, round(steps), abs_tol=1e-9)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {list(self.choices)}"
        scale = ", log scale" if self.log else ""
        step = f", step {self.step}" if self.step is not None else ""
        return f"in [{self.low}, {self.high}]{scale}{step}"

    def suggest(self, trial: Any, name: str) -> Any:
        """Sample this parameter through an Optuna trial (or Ray's wrapper of one)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; calling it with an Optuna trial samples one trial config.

    Ray Tune's ``OptunaSearch`` accepts the instance as a define-by-run space, and the
    sampled flat parameters become trial config keys. Two keys are added beside them:
    ``trial``, a ``TrialConfig.to_dict()`` mapping with epochs capped at ``epoch_cap``, and
    ``name``, the practice variant's name for a seeded point, else ``SAMPLED_NAME``.
    """

    source: str
    parameters: dict[str, Distribution]
    """Searched parameters in sampling order: num_blocks first, so blocks can depend on it."""
    fixed: dict[str, Any]
    block_convs: tuple[int, ...]
    """Convolutions per conv block, block 1 first; its length is the most blocks a trial can have."""
    seeded: dict[str, dict[str, Any]]
    """Seeded practice variant name to its flat point (searched parameters only)."""
    epoch_cap: int | None = None
    """Upper bound applied to every trial's max_epochs (``--max-epochs``); None applies none."""

    def __call__(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, distribution in self.parameters.items():
            block = block_of(name)
            if block is not None and block > self._num_blocks(values):
                continue
            values[name] = distribution.suggest(trial, name)
        return {"trial": self.trial_dict(values), "name": self.variant_of(values) or SAMPLED_NAME}

    def _num_blocks(self, values: Mapping[str, Any]) -> int:
        return values.get("num_blocks", self.fixed.get("num_blocks", DEFAULTS["num_blocks"]))

    def trial_dict(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Map a flat point (searched parameters) to a ``TrialConfig.to_dict()`` mapping, epochs capped."""
        values = {**DEFAULTS, **self.fixed, **point}
        num_blocks = values["num_blocks"]
        conv_blocks = [
            {
                "filters": [values[f"block{b}_filters{c}"] for c in range(1, self.block_convs[b - 1] + 1)],
                "dropout": values.get(f"block{b}_dropout", 0.0),
            }
            for b in range(1, num_blocks + 1)
        ]
        config = TrialConfig.from_dict(
            {
                "conv_blocks": conv_blocks,
                "dense_units": values["dense_units"],
                "dense_dropout": values["dense_dropout"],
                "learning_rate": values["learning_rate"],
                "batch_size": values["batch_size"],
                "max_epochs": values["max_epochs"],
                "patience": values["patience"],
            },
            source=f"{self.source}, point {dict(point)}",
        )
        return config.with_epoch_cap(self.epoch_cap).to_dict()

    def variant_of(self, point: Mapping[str, Any]) -> str | None:
        """Return the seeded variant whose point equals ``point``, or None.

        Optuna returns an enqueued point's values unchanged, so equality is exact. A sampled
        point matches a variant only if the sampler draws every value of it.
        """
        for name, seeded_point in self.seeded.items():
            if dict(point) == seeded_point:
                return name
        return None

    def points_to_evaluate(self) -> list[dict[str, Any]]:
        """Return the seeded variants' flat points, in the file's order, for ``OptunaSearch``."""
        return [dict(point) for point in self.seeded.values()]

    def with_epoch_cap(self, cap: int | None) -> "SearchSpace":
        return SearchSpace(self.source, self.parameters, self.fixed, self.block_convs, self.seeded, cap)


def block_of(name: str) -> int | None:
    """Return the conv block number a parameter belongs to, or None for a scalar parameter."""
    match = _BLOCK_FILTERS.match(name) or _BLOCK_DROPOUT.match(name)
    return int(match.group(1)) if match else None


def load_space(path: str | os.PathLike = OPEN_SPACE_FILE, practice_file: str | os.PathLike = PRACTICE_FILE) -> SearchSpace:
    """Read and validate a space file; raise ConfigError naming the file, key and fix."""
    path = Path(path)
    raw = read_yaml(path)
    source = str(path)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping with 'parameters', 'fixed' and 'seeded_variants', got {raw!r}")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; valid keys are {', '.join(TOP_LEVEL_KEYS)}")

    parameters = _parse_parameters(raw.get("parameters") or {}, source)
    fixed = _parse_fixed(raw.get("fixed") or {}, source)
    overlap = sorted(set(parameters) & set(fixed))
    if overlap:
        raise ConfigError(f"{source}: key(s) {', '.join(map(repr, overlap))} appear in both 'parameters' and 'fixed'; keep each in one of them")
    names = set(parameters) | set(fixed)
    _check_names(names, source)
    block_convs = _block_structure(names, source)
    _check_num_blocks(parameters, fixed, len(block_convs), source)

    space = SearchSpace(source, _sampling_order(parameters), fixed, block_convs, seeded={})
    _check_largest_model_fits(space)
    seeded = _seeded_points(space, raw.get("seeded_variants"), practice_file)
    return SearchSpace(source, space.parameters, fixed, block_convs, seeded)


def _parse_parameters(raw: Any, source: str) -> dict[str, Distribution]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: key 'parameters' must map parameter names to distributions, got {raw!r}")
    return {str(name): _parse_distribution(spec, source, f"parameters.{name}") for name, spec in raw.items()}


def _parse_distribution(spec: Any, source: str, key: str) -> Distribution:
    if not isinstance(spec, Mapping) or "distribution" not in spec:
        raise ConfigError(
            f"{source}: key '{key}' must be a mapping with a 'distribution' ({', '.join(DISTRIBUTIONS)}), "
            f"got {spec!r}; put constants under 'fixed'"
        )
    kind = spec["distribution"]
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{source}: key '{key}.distribution' is {kind!r}, an unknown distribution; valid distributions are {', '.join(DISTRIBUTIONS)}")
    unknown = sorted(set(spec) - set(_SPEC_KEYS[kind]))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))} in '{key}'; a {kind} distribution takes {', '.join(_SPEC_KEYS[kind])}")
    if kind == "categorical":
        return _parse_categorical(spec, source, key)
    return _parse_range(kind, spec, source, key)


def _parse_categorical(spec: Mapping[str, Any], source: str, key: str) -> Distribution:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{source}: key '{key}.choices' must be a non-empty list, got {choices!r}; list at least one value")
    for choice in choices:
        if choice is not None and not isinstance(choice, (bool, int, float, str)):
            raise ConfigError(f"{source}: key '{key}.choices' contains {choice!r}; choices must be numbers, strings, booleans or null")
    return Distribution("categorical", choices=tuple(choices))


def _parse_range(kind: str, spec: Mapping[str, Any], source: str, key: str) -> Distribution:
    bounds = {}
    for bound in ("low", "high"):
        value = spec.get(bound)
        valid = isinstance(value, int) if kind == "int" else _is_number(value)
        if isinstance(value, bool) or not valid:
            expected = "an integer" if kind == "int" else "a number (write floats as 1.0e-3: YAML 1.1 reads 1e-3 as a string)"
            raise ConfigError(f"{source}: key '{key}.{bound}' must be {expected}, got {value!r}")
        bounds[bound] = value
    low, high = bounds["low"], bounds["high"]
    if low > high:
        raise ConfigError(f"{source}: key '{key}' has low {low} above high {high}; swap them or fix the bounds")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: key '{key}.log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{source}: key '{key}' is log scale but its low bound is {low}; a log-scale range needs low > 0, so raise low or set log: false")
    step = spec.get("step")
    if step is not None:
        if isinstance(step, bool) or not _is_number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise ConfigError(f"{source}: key '{key}.step' must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
        if log:
            raise ConfigError(f"{source}: key '{key}' sets both log and step, which Optuna does not support; drop one of them")
    return Distribution(kind, low=low, high=high, log=log, step=step)


def _parse_fixed(raw: Any, source: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: key 'fixed' must map parameter names to constants, got {raw!r}")
    for name, value in raw.items():
        if isinstance(value, Mapping):
            raise ConfigError(f"{source}: key 'fixed.{name}' must be a constant, got a mapping; move searched parameters under 'parameters'")
    return {str(name): value for name, value in raw.items()}


def _check_names(names: set[str], source: str) -> None:
    for name in sorted(names):
        if name not in SCALAR_PARAMETERS and block_of(name) is None:
            raise ConfigError(
                f"{source}: unknown key '{name}'; valid parameters are {', '.join(SCALAR_PARAMETERS)}, "
                "block<B>_filters<C> and block<B>_dropout (B, C = 1..9)"
            )
    missing = [name for name in REQUIRED_PARAMETERS if name not in names]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(map(repr, missing))}; add each under 'parameters' or 'fixed'")


def _block_structure(names: set[str], source: str) -> tuple[int, ...]:
    """Return the convolution count of each block; blocks and convolutions must be numbered 1, 2, ..."""
    convs: dict[int, set[int]] = {}
    for name in names:
        match = _BLOCK_FILTERS.match(name)
        if match:
            convs.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    for name in names:
        block = block_of(name)
        if block is not None and block not in convs:
            raise ConfigError(f"{source}: key '{name}' belongs to block {block}, which has no block{block}_filters1; add its filters or drop the key")
    for block in range(1, max(convs) + 1):
        numbers = sorted(convs.get(block, ()))
        if numbers != list(range(1, len(numbers) + 1)) or not numbers:
            raise ConfigError(
                f"{source}: block {block} has convolutions {numbers or 'none'}; number them block{block}_filters1, "
                f"block{block}_filters2, ... without gaps, and give every block up to {max(convs)} its filters"
            )
    return tuple(len(convs[block]) for block in range(1, max(convs) + 1))


def _check_num_blocks(parameters: Mapping[str, Distribution], fixed: Mapping[str, Any], max_blocks: int, source: str) -> None:
    if "num_blocks" in parameters:
        distribution = parameters["num_blocks"]
        values = distribution.choices if distribution.kind == "categorical" else (distribution.low, distribution.high)
        if distribution.kind == "float" or not all(isinstance(v, int) and 1 <= v <= max_blocks for v in values):
            raise ConfigError(
                f"{source}: key 'parameters.num_blocks' must be an int or categorical distribution within "
                f"[1, {max_blocks}] (the blocks the file defines filters for), got {distribution.describe()}"
            )
    elif not 1 <= fixed.get("num_blocks", 1) <= max_blocks:
        raise ConfigError(f"{source}: key 'fixed.num_blocks' must be in [1, {max_blocks}], got {fixed['num_blocks']!r}")


def _sampling_order(parameters: Mapping[str, Distribution]) -> dict[str, Distribution]:
    ordered = sorted(parameters, key=lambda name: (name != "num_blocks", block_of(name) or 0))
    return {name: parameters[name] for name in ordered}


def _check_largest_model_fits(space: SearchSpace) -> None:
    """Build the config with every block and each parameter's first value, so config errors surface now."""
    point = {}
    for name, distribution in space.parameters.items():
        point[name] = distribution.choices[0] if distribution.kind == "categorical" else distribution.high
    if "num_blocks" in space.parameters:
        point["num_blocks"] = len(space.block_convs)
    space.trial_dict(point)


def _seeded_points(space: SearchSpace, names: Any, practice_file: str | os.PathLike) -> dict[str, dict[str, Any]]:
    variants = load_variants(practice_file)
    if names is None:
        names = list(variants)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{space.source}: key 'seeded_variants' must be a list of practice variant names, got {names!r}")
    unknown = [name for name in names if name not in variants]
    if unknown:
        raise ConfigError(
            f"{space.source}: key 'seeded_variants' names unknown variant(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(variants)}"
        )
    return {name: seeded_point(space, variants[name]) for name in names}


def variant_point(variant: Variant) -> dict[str, Any]:
    """Return a practice variant as flat parameters, every parameter included."""
    config = variant.config
    point: dict[str, Any] = {"num_blocks": len(config.model.conv_blocks)}
    for b, block in enumerate(config.model.conv_blocks, start=1):
        for c, filters in enumerate(block.filters, start=1):
            point[f"block{b}_filters{c}"] = filters
        point[f"block{b}_dropout"] = block.dropout
    point.update(
        dense_units=config.model.dense_units,
        dense_dropout=config.model.dense_dropout,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        max_epochs=config.max_epochs,
        patience=config.patience,
    )
    return point


def seeded_point(space: SearchSpace, variant: Variant) -> dict[str, Any]:
    """Return the variant's point over the searched parameters; raise ConfigError if it lies outside the space."""
    full = variant_point(variant)
    where = f"{space.source}: seeded variant '{variant.name}' is outside the space"
    fix = f"widen the space or drop '{variant.name}' from seeded_variants"
    num_blocks = full["num_blocks"]
    if num_blocks > len(space.block_convs):
        raise ConfigError(f"{where}: it has {num_blocks} conv blocks, the space at most {len(space.block_convs)}; {fix}")
    for b, block in enumerate(variant.config.model.conv_blocks, start=1):
        if len(block.filters) != space.block_convs[b - 1]:
            raise ConfigError(
                f"{where}: its block {b} has {len(block.filters)} convolutions, the space's block {b} has "
                f"{space.block_convs[b - 1]}; {fix}"
            )

    point = {}
    for name, value in full.items():
        if name in space.fixed:
            if not _same_value(value, space.fixed[name]):
                raise ConfigError(f"{where}: key '{name}' is {value!r}, but the space fixes it at {space.fixed[name]!r}; {fix}")
        elif name in space.parameters:
            distribution = space.parameters[name]
            if not distribution.contains(value):
                raise ConfigError(f"{where}: key '{name}' is {value!r}, not {distribution.describe()}; {fix}")
            point[name] = value
        elif not _same_value(value, DEFAULTS.get(name, 0.0)):
            raise ConfigError(f"{where}: key '{name}' is {value!r}, but the space neither searches nor fixes it; {fix}")
    return point


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same_value(a: Any, b: Any) -> bool:
    # YAML's true must not match 1, and null must match only null.
    return a == b and isinstance(a, bool) == isinstance(b, bool) and (a is None) == (b is None)
