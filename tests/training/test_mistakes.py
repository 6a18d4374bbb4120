"""Every `python -m training` command answers a user's mistake with one line on stderr saying what to change,
and status 2: no traceback, and nothing already written is touched."""

import hashlib
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.servers import ROOT
from training.cli import main

JUDGES = ROOT / "checkpoints" / "classifiers"  # the committed ones: no judge is trained here


def image_folder(root, counts: dict[str, int]):
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(np.full((12, 12, 3), 20 * index, np.uint8)).save(root / name / f"{index}.png")
    return root


def one_line(capsys, arguments: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and error.count("\n") == 1 and "Traceback" not in error, error
    return error


def test_data_mistakes(tmp_path, capsys):
    train = ["train", "--out", str(tmp_path / "out" / "m.safetensors"), "--judges-dir", str(JUDGES)]
    folder = ["--dataset", "folder", "--image-folder"]
    assert "no/such/folder: no such folder" in one_line(capsys, [*train, *folder, "no/such/folder"])
    assert "the folder data set needs --image-folder" in one_line(capsys, [*train, "--dataset", "folder"])
    (tmp_path / "empty").mkdir()
    assert "expected one subfolder per class, found none" in one_line(
        capsys, [*train, *folder, str(tmp_path / "empty")]
    )
    few = image_folder(tmp_path / "few", {"cat": 12, "dog": 1})
    assert "dog: 1 image; each class needs at least 10" in one_line(capsys, [*train, *folder, str(few)])
    broken = image_folder(tmp_path / "broken", {"cat": 12, "dog": 12})
    (broken / "dog" / "5.png").write_bytes(b"not a png")
    assert f"{broken}/dog/5.png: not a readable image" in one_line(capsys, [*train, *folder, str(broken)])
    offline = ["--dataset", "mnist", "--mnist-dir", str(tmp_path / "mnist"), "--mnist-url", "http://127.0.0.1:9/"]
    assert "127.0.0.1:9" in one_line(capsys, [*train, *offline])
    assert not (tmp_path / "out").exists()


def test_an_image_shape_that_does_not_parse(capsys):
    error = one_line(capsys, ["train", "--image-shape", "3", "thirty-two", "32"])
    assert "argument --image-shape: invalid int value: 'thirty-two' (see --help)" in error


def test_resuming_a_checkpoint_of_another_run_leaves_it_whole(tmp_path, capsys):
    out = tmp_path / "vae.safetensors"
    shutil.copy(ROOT / "checkpoints" / "ae.safetensors", out)
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    arguments = [
        "train",
        "--model",
        "vae",
        "--resume",
        "--out",
        str(out),
        "--judges-dir",
        str(JUDGES),
        "--limit",
        "600",
    ]
    assert "holds another run (ae on fashion-mnist" in one_line(capsys, arguments)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


def test_an_out_that_cannot_be_written(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    error = one_line(capsys, ["train", "--out", str(tmp_path / "a-file" / "m.safetensors")])
    assert f"({tmp_path / 'a-file'} is not a writable folder)" in error


def test_an_export_into_a_folder_that_holds_files_leaves_them_alone(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("kept")
    assert f"{tmp_path} is not empty: export into a new folder" in one_line(capsys, ["export", str(tmp_path)])
    assert [path.name for path in tmp_path.iterdir()] == ["mine.txt"]
    classes = image_folder(tmp_path / "classes", {"cat": 2, "dog": 2})
    assert "each class needs at least 10" in one_line(
        capsys, ["export", str(tmp_path / "out"), "--dataset", "folder", "--image-folder", str(classes)]
    )  # classes too small for a test split of their own: nothing written
    assert not (tmp_path / "out").exists()
