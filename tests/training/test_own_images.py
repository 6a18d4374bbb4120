"""Your own images, end to end: a folder of images is the same data as the IDX files it was exported from, and
the walk-through of docs/own-images.md (export, train into a served folder, sample by class name, evaluate)
works as written."""

import hashlib
import time

import httpx
import torch
from safetensors.torch import load_file

import models
from tests.servers import running_service
from training.cli import main
from training.data import hold_out_validation
from training.datasets import read_image_folder


def test_a_folder_trains_to_the_weights_of_the_idx_files_it_was_exported_from(fashion_slice_dir, tmp_path):
    main(["export", str(tmp_path / "folder"), "--fashion-mnist-dir", str(fashion_slice_dir)])
    run = ["train", "--model", "cvae", "--epochs", "1", "--eval-limit", "100", "--device", "cpu"]
    main([*run, "--fashion-mnist-dir", str(fashion_slice_dir), "--out", str(tmp_path / "idx" / "m.safetensors")])
    main([*run, "--dataset", "folder", "--image-folder", str(tmp_path / "folder"),
          "--out", str(tmp_path / "png" / "m.safetensors")])  # fmt: skip
    idx, png = load_file(tmp_path / "idx" / "m.safetensors"), load_file(tmp_path / "png" / "m.safetensors")
    assert idx.keys() == png.keys() and all(torch.equal(idx[key], png[key]) for key in idx)
    # the judges of the two (one keyed "fashion-mnist-", one "folder-") trained on the same images alike
    assert (
        models.load(tmp_path / "idx" / "m.safetensors").evaluation
        == models.load(tmp_path / "png" / "m.safetensors").evaluation
    )


def test_the_walk_through(fashion_slice_dir, tmp_path):
    images, served = tmp_path / "pets", tmp_path / "served"
    served.mkdir()
    main(["export", str(images), "--fashion-mnist-dir", str(fashion_slice_dir), "--image-shape", "3", "32", "32"])
    data = ["--dataset", "folder", "--image-folder", str(images), "--image-shape", "3", "32", "32"]
    data += ["--eval-limit", "100", "--device", "cpu"]
    checkpoint = served / "pets.safetensors"
    with running_service(served, wait_for="/healthz", AESERVE_WATCH_MODELS="true") as (base, _):
        main(["train", "--model", "cvae", "--epochs", "1", "--out", str(checkpoint), *data])
        version = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]  # as the service names versions
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/models/pets").json().get("version") != version:  # hot reload, no restart
            assert time.monotonic() < deadline, "the trained model was not served"
            time.sleep(0.2)
        card = httpx.get(f"{base}/models/pets").json()
        assert card["image_shape"] == [3, 32, 32] and "Trouser" in card["classes"]
        drawn = httpx.get(f"{base}/sample", params={"model": "pets", "label": "Trouser", "n": 2, "seed": 1})
        assert drawn.status_code == 200 and drawn.headers["x-model-version"] == version
        assert drawn.json()["labels"] == [1, 1]

    stored = models.load(checkpoint).evaluation
    main(["evaluate", str(checkpoint), "--split", "validation", *data])
    assert models.load(checkpoint).evaluation == stored
    digest = hold_out_validation(read_image_folder(images, (3, 32, 32))).train.digest()  # what the judges learnt
    judges = sorted(path.name for path in (served / "classifiers").iterdir())  # beside the run, not in checkpoints/
    assert judges == [f"folder-{digest}-cnn.safetensors", f"folder-{digest}-resnet.safetensors"]
