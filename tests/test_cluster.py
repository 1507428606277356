"""The distributed path: a head and a worker node started as separate Ray nodes on this machine,
a tiny search through `--address` whose trials run on both, results in one storage path."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import write_cifar_folder
from tests.ray_nodes import LocalCluster, ray_env

pytestmark = pytest.mark.ray

SPACE = """\
parameters:
  dense_units: {distribution: categorical, choices: [16, 32, 64]}
  learning_rate: {distribution: float, low: 1.0e-4, high: 1.0e-2, log: true}
fixed:
  block1_filters1: 8
  block1_filters2: 16
  batch_size: 32
  max_epochs: 1
  patience: 1
seeded_variants: []
"""


@pytest.fixture(scope="module")
def cluster():
    # A short temp path: Ray's Unix socket paths inside it must stay under 107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="rtc", dir="/tmp"))
    nodes = LocalCluster(temp_dir / "ray", cpus=1, workers=1, log_dir=temp_dir)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def test_search_runs_on_both_nodes(cluster, tmp_path):
    data_dir = write_cifar_folder(tmp_path / "data", n_train_per_class=10, n_test_per_class=2)
    (tmp_path / "space.yaml").write_text(SPACE)
    storage = tmp_path / "runs"
    command = [
        sys.executable, "-m", "tune_cifar.search",
        "--address", cluster.address,
        "--space", str(tmp_path / "space.yaml"),
        "--data-dir", str(data_dir),
        "--cache-dir", str(tmp_path / "cache"),
        "--storage-path", str(storage),
        "--name", "two_nodes",
        "--num-samples", "6",
        "--cpus-per-trial", "1",
        "--scheduler", "fifo",
    ]
    result = subprocess.run(command, env=ray_env(), capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]

    experiment = storage / "two_nodes"
    results = pd.read_csv(experiment / "results.csv")
    assert len(results) == 6
    assert (results["status"] == "finished").all()
    metas = [json.loads(path.read_text()) for path in experiment.glob("*/trial_meta.json")]
    assert len(metas) == 6
    assert len({meta["node_id"] for meta in metas}) == 2, "the trials ran on one node only"
    assert "joining the Ray cluster at" in result.stderr
    assert "across 2 node(s)" in result.stderr
