"""`python -m training`: help that reads well, a short train run, evaluate, the default set."""

import subprocess
import sys

import models
from tests.servers import ROOT
from training.cli import main

# the committed judges of Fashion-MNIST (tests/training/test_judges.py trains judges on small data)
JUDGES = ROOT / "checkpoints" / "classifiers"


def test_help_lists_the_commands_and_presets():
    result = subprocess.run([sys.executable, "-m", "training", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for text in ("--model", "aae-swissroll", "--dataset", "--resume", "--latent-dim", "--epochs", "--neighbours"):
        assert text in result.stdout


def test_train_then_evaluate(tmp_path, capsys):
    out, judged_before = tmp_path / "tiny.safetensors", sorted(JUDGES.iterdir())
    common = ["--limit", "600", "--eval-limit", "1000", "--judges-dir", str(JUDGES), "--device", "cpu"]
    main(
        [
            "train",
            "--model",
            "aae-mixture",
            "--epochs",
            "1",
            "--latent-dim",
            "2",
            "--out",
            str(out),
            "--docs-dir",
            str(tmp_path / "docs"),
            *common,
        ]
    )
    checkpoint = models.load(out)
    assert checkpoint.training["preset"] == "aae-mixture" and checkpoint.training["train_images"] == 600
    assert checkpoint.evaluation["split"] == "validation"  # settings are chosen there; `defaults` reports test
    assert checkpoint.evaluation["samples"] == 1000  # --eval-limit: of the 5,000 validation images
    assert set(checkpoint.evaluation["spaces"]) == {"cnn", "resnet"}
    assert {"label_accuracy", "frechet_distance", "precision"} <= set(checkpoint.evaluation["spaces"]["cnn"])
    assert sorted(p.name for p in (tmp_path / "docs" / "aae-mixture").iterdir()) == [
        "latents.png", "losses.png", "reconstructions.png", "samples.png",
    ]  # fmt: skip
    assert sorted(JUDGES.iterdir()) == judged_before  # --limit trains on less, judged by the whole data's judges
    printed = capsys.readouterr().out
    assert "label_accuracy_ratio=" in printed and "resnet:" in printed

    main(["evaluate", str(out), "--split", "test", *common])
    rewritten = models.load(out)
    assert rewritten.training == checkpoint.training and rewritten.evaluation["split"] == "test"  # the rest kept


def test_defaults_writes_checkpoints_and_the_table(tmp_path):
    main(["defaults", "--only", "ae", "--out-dir", str(tmp_path / "ck"), "--docs-dir", str(tmp_path / "docs"),
          "--limit", "600", "--eval-limit", "1000", "--judges-dir", str(JUDGES)])  # fmt: skip
    assert models.load(tmp_path / "ck" / "ae.safetensors").prior.name == "gaussian_mixture"
    [critic] = (tmp_path / "ck" / "auxiliary").iterdir()  # the second stage's, kept for the other presets
    assert models.load(critic).kind == "classifier"
    table = (tmp_path / "docs" / "models.md").read_text()
    assert "| `ae` | ae | plain |" in table and "models/ae/samples.png" in table
