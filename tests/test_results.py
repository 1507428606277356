import json
import os

from tune_cifar.results import read_experiment_state


def _write_state(path, status):
    trial = {"trial_id": "abc", "status": status, "relative_logdir": "q4_abc", "config": {}}
    path.write_text(json.dumps({"trial_data": [[json.dumps(trial), json.dumps({})]]}))


def test_newest_session_state_wins_by_name(tmp_path):
    older = tmp_path / "experiment_state-2026-12-04_21-49-10.json"
    newer = tmp_path / "experiment_state-2026-12-04_21-57-17.json"
    _write_state(newer, "TERMINATED")
    _write_state(older, "RUNNING")
    # A resumed run rewrites the older session's file too, so it may carry the later mtime.
    os.utime(newer, (1_000, 1_000))
    os.utime(older, (2_000, 2_000))

    states = read_experiment_state(tmp_path)
    assert states["abc"]["status"] == "TERMINATED"
    assert states["abc"]["logdir"] == "q4_abc"


def test_no_state_file_gives_empty(tmp_path):
    assert read_experiment_state(tmp_path) == {}
