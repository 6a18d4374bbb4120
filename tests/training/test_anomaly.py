"""The anomaly score's calibration: stored by `calibrate`, and its false-positive rate holds on unseen images."""

import shutil

import pytest

import models
from tests.servers import ROOT
from training.anomaly import calibration_of, false_positive_rate
from training.cli import main
from training.data import ImageData, hold_out_validation


# the ae's reconstruction misses the digits its code density catches, so the most alarmed signal tells them apart
# better than the sum; the vae's two signals each catch part of them, so their sum does
@pytest.mark.parametrize(("name", "combine"), [("ae", "max"), ("vae", "sum")])
def test_the_flag_rate_holds_on_images_not_calibrated_on_and_each_model_combines_as_it_chose(name, combine, fashion):
    checkpoint = models.load(ROOT / "checkpoints" / f"{name}.safetensors")
    validation = hold_out_validation(fashion).validation
    first = ImageData(validation.images[:2500], validation.labels[:2500], validation.class_names)
    second = ImageData(validation.images[2500:], validation.labels[2500:], validation.class_names)
    calibration = calibration_of(checkpoint.model, checkpoint.density, first, "the first half", alpha=0.05)
    assert calibration.combine == combine
    rate = false_positive_rate(checkpoint.model, checkpoint.density, calibration, second)
    assert rate == pytest.approx(0.05, abs=0.015)  # 2,500 images: the binomial's spread is 0.0044


def test_calibrate_stores_a_calibration_on_a_users_own_folder_and_keeps_the_rest(fashion_slice_dir, tmp_path):
    checkpoint = tmp_path / "ae.safetensors"
    shutil.copy(ROOT / "checkpoints" / "ae.safetensors", checkpoint)
    before = models.load(checkpoint)
    main(["export", str(tmp_path / "normal"), "--fashion-mnist-dir", str(fashion_slice_dir)])
    main(["calibrate", str(checkpoint), "--folder", str(tmp_path / "normal"), "--alpha", "0.05"])
    after = models.load(checkpoint)
    assert after.calibration is not None and len(after.calibration.scores) == 360  # every image of the folder
    assert after.calibration.alpha == 0.05 and after.calibration.held_out == str(tmp_path / "normal")
    assert after.evaluation["anomaly"]["calibration_images"] == 360
    assert {key: value for key, value in after.evaluation.items() if key != "anomaly"} == {
        key: value for key, value in before.evaluation.items() if key != "anomaly"
    }
    assert all((after.model.state_dict()[k] == v).all() for k, v in before.model.state_dict().items())


def test_calibrate_refuses_what_it_cannot_use_in_one_line(tmp_path, capsys):
    for arguments, says in (
        ([str(tmp_path / "missing.safetensors")], "no such checkpoint file"),
        ([str(ROOT / "checkpoints" / "ae.safetensors"), "--alpha", "1.5"], "--alpha must lie between 0 and 1"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(["calibrate", *arguments])
        assert stopped.value.code == 2 and says in capsys.readouterr().err
