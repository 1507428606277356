"""Find and kill a process and its descendants by id, reading /proc (Linux), for tests that start Ray."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def _parent_ids() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process exited while we listed /proc
        # Field 4 is the parent id; the command name in brackets may contain spaces.
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def descendant_ids(pid: int) -> list[int]:
    """Return the ids of every process below ``pid`` in the process tree."""
    parents = _parent_ids()
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants, collected before the first kill."""
    for target in [pid, *descendant_ids(pid)]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
