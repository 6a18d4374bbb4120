"""The evaluation judges belong to the data they were trained on: keyed by its digest, refused for other data."""

import pytest
import torch

from training.data import ImageData, Splits
from training.run import JudgeError, judges_for


def small_data(class_names: list[str], *, seed: int, per_class: int = 8) -> Splits:
    """Images whose brightness is their class: enough for a judge to learn in a few steps."""
    generator = torch.Generator().manual_seed(seed)

    def part(count: int) -> ImageData:
        labels = torch.arange(len(class_names)).repeat_interleave(count)
        noise = torch.randint(0, 30, (len(labels), 1, 28, 28), generator=generator)
        images = (noise + 200 * labels[:, None, None, None] // max(1, len(class_names) - 1)).clamp(0, 255)
        return ImageData(images.to(torch.uint8), labels, class_names)

    return Splits(train=part(per_class), test=part(2))


def files(folder) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def test_two_data_sets_get_two_pairs_of_judges_and_the_same_data_reuses_its_pair(tmp_path):
    shirts, shoes = small_data(["tee", "shirt", "coat"], seed=0), small_data(["boot", "sandal"], seed=1)
    judges_for(shirts, tmp_path, "folder")
    first = files(tmp_path)
    assert sorted(first) == [f"folder-{shirts.train.digest()}-cnn.safetensors",
                             f"folder-{shirts.train.digest()}-resnet.safetensors"]  # fmt: skip
    judges = judges_for(shoes, tmp_path, "folder")
    assert len(files(tmp_path)) == 4 and judges["cnn"].config.num_classes == 2
    judges_for(shirts, tmp_path, "folder")
    assert {name: files(tmp_path)[name] for name in first} == first  # the same data: its pair, untouched


def test_a_judge_of_other_classes_is_refused_with_a_message(tmp_path):
    shirts, shoes = small_data(["tee", "shirt", "coat"], seed=0), small_data(["boot", "sandal"], seed=1)
    judges_for(shirts, tmp_path, "folder")
    for name in ("cnn", "resnet"):  # the shirts' judges under the shoes' names
        (tmp_path / f"folder-{shirts.train.digest()}-{name}.safetensors").rename(
            tmp_path / f"folder-{shoes.train.digest()}-{name}.safetensors"
        )
    with pytest.raises(JudgeError, match=r"judges \['tee', 'shirt', 'coat'\] .* not this data's \['boot', 'sandal'\]"):
        judges_for(shoes, tmp_path, "folder")


def test_the_digest_tells_images_labels_classes_and_shape_apart():
    data = small_data(["a", "b"], seed=0).train
    other_pixel = ImageData(data.images.clone(), data.labels, data.class_names)
    other_pixel.images[0, 0, 0, 0] ^= 1
    others = [
        other_pixel,
        ImageData(data.images, data.labels.flip(0), data.class_names),
        ImageData(data.images, data.labels, ["a", "c"]),
        ImageData(data.images.reshape(len(data), 1, 14, 56), data.labels, data.class_names),
    ]
    assert len({data.digest(), *(other.digest() for other in others)}) == 5
    assert small_data(["a", "b"], seed=0).train.digest() == data.digest()
