"""A real training run killed with SIGKILL at several points leaves the previous checkpoint intact and
loadable with no temporary files, and `--resume` then ends where an uninterrupted run with the same
seed ends: its optimisers, schedules, auxiliary classifier and random generators continue."""

import signal
import subprocess
import sys
import time

import pytest
import torch

import models
from models import CheckpointError
from tests.servers import ROOT

JUDGES = ROOT / "checkpoints" / "classifiers"
# the cvae has every kind of state: Adam moments, the cosine schedules, the auxiliary classifier and its
# optimiser, and random numbers both from torch's generator (its noise) and from the prior's
EPOCHS = 3


def start(out, *, resume: bool) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "training", "train", "--model", "cvae", "--epochs", str(EPOCHS), "--limit", "1000",
        "--eval-limit", "300", "--out", str(out), "--judges-dir", str(JUDGES), *(["--resume"] if resume else []),
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def epochs_done(out) -> tuple[int, bool]:
    """(epochs in the checkpoint, whether it is evaluated); (0, False) while there is none."""
    try:
        checkpoint = models.load(out)
    except CheckpointError:
        return 0, False
    return checkpoint.training["epochs_done"], bool(checkpoint.evaluation)


def kill_when(process: subprocess.Popen, condition, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, f"the run ended before the kill point:\n{process.communicate()[0]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def no_stray_files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "cvae.safetensors"
    finished = start(out, resume=False)
    assert finished.wait(300) == 0, finished.communicate()[0]
    return models.load(out)


def test_sigkill_at_several_points_loses_nothing_and_resume_ends_where_an_uninterrupted_run_does(
    tmp_path, uninterrupted
):
    out = tmp_path / "cvae.safetensors"
    started = time.monotonic()
    kill_when(start(out, resume=False), lambda: time.monotonic() - started > 0.5)  # before anything is written
    assert not out.exists() and no_stray_files(tmp_path) == []

    kill_when(start(out, resume=True), lambda: epochs_done(out)[0] >= 1)  # right after the first epoch's save
    assert epochs_done(out) == (1, False) and no_stray_files(tmp_path) == []
    first_epoch = models.load(out)

    resumed = start(out, resume=True)
    kill_when(resumed, lambda: epochs_done(out)[0] >= 2)  # after the second
    assert epochs_done(out)[0] >= 2 and no_stray_files(tmp_path) == []
    assert first_epoch.training["history"][0] == models.load(out).training["history"][0]  # kept, not redone

    finished = start(out, resume=True)
    assert finished.wait(300) == 0, finished.communicate()[0]
    assert no_stray_files(tmp_path) == []
    final = models.load(out)
    assert [entry["epoch"] for entry in final.training["history"]] == [1, 2, 3]
    # the same seed ends at the same weights: exactly so on CPU, where the kernels are deterministic;
    # the tolerance leaves room for other hardware's float reductions
    for name, tensor in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(final.model.state_dict()[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    assert final.evaluation["reconstruction_mse"] == pytest.approx(
        uninterrupted.evaluation["reconstruction_mse"], rel=1e-3
    )
    for judge, space in final.evaluation["spaces"].items():
        assert space["label_accuracy"] == pytest.approx(
            uninterrupted.evaluation["spaces"][judge]["label_accuracy"], rel=1e-3
        )
