"""`python -m training report --check`: the stored figures of a default set against training/targets.py, each
target that falls short named with the models that miss it."""

import shutil

import models
from tests.servers import ROOT
from training.targets import TARGETS, check

CHECKPOINTS = ROOT / "checkpoints"


def test_a_set_that_misses_a_target_is_named_with_the_model_that_misses_it(tmp_path):
    for path in CHECKPOINTS.glob("*.safetensors"):
        (tmp_path / path.name).symlink_to(path)
    shutil.copytree(CHECKPOINTS / "auxiliary", tmp_path / "auxiliary")
    assert check(tmp_path) == []

    ae = models.load(CHECKPOINTS / "ae.safetensors")
    (tmp_path / "ae.safetensors").unlink()
    worse = {**ae.evaluation, "reconstruction_mse": 0.009}
    models.save(tmp_path / "ae.safetensors", ae.model, prior=ae.prior, sampler=ae.sampler,
                class_names=ae.class_names, training=ae.training, evaluation=worse)  # fmt: skip
    (tmp_path / "cvae.safetensors").unlink()
    missed = check(tmp_path)
    assert missed[0].startswith("every preset committed") and missed[0].endswith("missed by cvae missing")
    assert "the plain AE reconstructs within 0.008 MSE: missed by ae" in missed
    assert all("cvae" in line for line in missed if "plain AE" not in line)
    assert len(missed) < len(TARGETS)  # the claims that do not read the cvae or the AE's MSE still hold
