"""torchrun: two CPU processes (gloo) train one model with DistributedDataParallel on disjoint shards."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import models

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_train_disjoint_shards_and_rank_0_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "aae.safetensors"
    command = [
        Path(sys.executable).parent / "torchrun", "--standalone", "--nproc_per_node", "2",
        "-m", "training", "train", "--model", "aae-supervised", "--epochs", "2", "--limit", "1024",
        "--out", str(out), "--judges-dir", str(ROOT / "checkpoints" / "classifiers"), "--device", "cpu", "-v",
        "--docs-dir", str(tmp_path / "docs"), "--eval-limit", "300",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    shards = {}
    for rank, epoch, count, start in re.findall(
        r"rank (\d)/2, epoch (\d): (\d+) images, starting (\[[^\]]*\])", result.stderr
    ):
        shards[(int(rank), int(epoch))] = (int(count), ast.literal_eval(start))
    assert set(shards) == {(0, 1), (1, 1), (0, 2), (1, 2)}
    assert shards[(0, 1)][0] == shards[(1, 1)][0] == 512  # each rank trains on half of the 1,024 images
    assert not set(shards[(0, 1)][1]) & set(shards[(1, 1)][1])  # and the halves differ
    assert shards[(0, 1)][1] != shards[(0, 2)][1]  # reshuffled every epoch

    checkpoint = models.load(out)
    assert checkpoint.training["world_size"] == 2 and checkpoint.training["epochs_done"] == 2
    assert "label_accuracy" in checkpoint.evaluation["spaces"]["cnn"]  # rank 0 evaluated
    assert checkpoint.sampler is not None  # and ran the second stage
    assert (tmp_path / "docs" / "aae-supervised" / "samples.png").exists()
