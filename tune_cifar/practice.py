"""The practice's variants, read from ``search_spaces/practice.yaml``.

The YAML file is the single source of the variants; this module validates it before any
Ray process starts, so a typo costs a second, not a cluster start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from tune_cifar.config import ConfigError, TrialConfig

SEARCH_SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
PRACTICE_FILE = SEARCH_SPACES_DIR / "practice.yaml"

# The order the practice asks its questions in; reports list variants in this order.
PRACTICE_ORDER = ("original", "q1", "q2", "q3", "q4", "extra")


@dataclass(frozen=True)
class Variant:
    """One named, fixed trial of the practice."""

    name: str
    description: str
    config: TrialConfig


def load_variants(path: str | os.PathLike = PRACTICE_FILE) -> dict[str, Variant]:
    """Read and validate every variant in ``path``; raise ConfigError naming file, variant and key."""
    path = Path(path)
    raw = read_yaml(path)
    variants = raw.get("variants") if isinstance(raw, Mapping) else None
    if not isinstance(variants, Mapping) or not variants:
        raise ConfigError(
            f"{path}: expected a top-level 'variants:' mapping of variant name to config, "
            f"found {type(raw).__name__ if raw is not None else 'an empty file'}"
        )
    unknown_top = sorted(set(raw) - {"variants"})
    if unknown_top:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown_top))}; only 'variants' is allowed")

    loaded = {}
    for name, entry in variants.items():
        loaded[str(name)] = _parse_variant(path, str(name), entry)
    return loaded


def select_variants(variants: Mapping[str, Variant], names: str | None, option: str = "--variants") -> list[Variant]:
    """Pick the comma-separated ``names`` (all variants when None), keeping the file's order."""
    if names is None:
        return list(variants.values())
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise ConfigError(f"{option}: no variant names given; choose from {', '.join(variants)}")
    missing = [name for name in wanted if name not in variants]
    if missing:
        raise ConfigError(
            f"{option}: unknown variant(s) {', '.join(map(repr, missing))}; choose from {', '.join(variants)}"
        )
    return [variants[name] for name in variants if name in wanted]


def read_yaml(path: Path, option: str = "--space") -> Any:
    """Parse a search-space YAML file; raise ConfigError naming the file and ``option`` to fix it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"search space file not found: {path}; pass an existing YAML file to {option}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None


def _parse_variant(path: Path, name: str, entry: Any) -> Variant:
    source = f"{path}, variant '{name}'"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{source}: expected a mapping of config keys, got {entry!r}")
    values = dict(entry)
    description = values.pop("description", None)
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{source}: key 'description' must be a one-line text describing the variant")
    return Variant(name=name, description=description.strip(), config=TrialConfig.from_dict(values, source))
