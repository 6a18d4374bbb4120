"""The one-class study: one model per class, the other classes its anomalies."""

import json

from training.data import hold_out_validation
from training.oneclass import one_class_study


def test_a_model_trained_on_one_class_tells_the_others_apart_and_the_study_is_written(small, tmp_path):
    summary = json.loads(one_class_study(hold_out_validation(small), split="validation", epochs=1, docs_dir=tmp_path))
    report = json.loads((tmp_path / "benchmarks" / "oneclass.json").read_text())
    assert len(report["classes"]) == 10 and summary["mean_auroc"] == report["mean_auroc"]
    assert summary["mean_auroc"] > 70, report["classes"]  # chance is 50
    assert "| **mean** |" in (tmp_path / "oneclass.md").read_text()
