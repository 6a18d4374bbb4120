"""The data readers on good and broken files, the MNIST download against a local server, image folders."""

import gzip
import hashlib
import http.server
import re
import struct
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from training.data import (
    FASHION_MNIST_CLASSES,
    DataError,
    Splits,
    download_mnist,
    keep_labels,
    read_idx,
    read_mnist_layout,
)
from training.datasets import read_image_folder, write_image_folder


def idx_bytes(array: np.ndarray) -> bytes:
    return b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_fashion_mnist_has_its_real_sizes_and_classes(fashion):
    assert fashion.train.images.shape == (60000, 1, 28, 28) and fashion.train.images.dtype == torch.uint8
    assert fashion.test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(fashion.train.labels).tolist() == [6000] * 10
    assert fashion.train.class_names == FASHION_MNIST_CLASSES
    assert fashion.train.class_names[9] == "Ankle boot"


def test_read_idx_plain_and_gzip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(array)))
    assert np.array_equal(read_idx(tmp_path / "a.idx"), array)
    assert np.array_equal(read_idx(tmp_path / "a.idx.gz"), array)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "bad magic number"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-3], "the file holds 29 bytes"),
        (gzip.compress(idx_bytes(np.zeros((4, 2, 2), np.uint8)))[:-8], "corrupt gzip"),
    ],
    ids=["magic", "header", "truncated-body", "truncated-gzip"],
)
def test_read_idx_names_the_file_and_the_fault(tmp_path, content, message):
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_missing_idx_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_mnist_layout(tmp_path, FASHION_MNIST_CLASSES)


# MNIST download against a local server


def mnist_files(count: int = 6) -> dict[str, bytes]:
    images = np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = np.arange(count, dtype=np.uint8) % 10
    return {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels)),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images[:2])),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels[:2])),
    }


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder, with byte ranges like a real mirror."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = root / self.path.lstrip("/")
            requests.append((self.path, self.headers.get("Range")))
            if not path.is_file():
                self.send_error(404)
                return
            body, status = path.read_bytes(), 200
            if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
                body, status = body[int(match[1]) :], 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    httpd.shutdown()
    httpd.server_close()


def publish(root, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).write_bytes(data)


def md5s(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


def test_download_verifies_checksums_and_reads_back(server, tmp_path):
    root, url, requests = server
    files = mnist_files()
    publish(root, files)
    cache = tmp_path / "cache"
    folder = download_mnist(cache, url, md5s(files))
    splits = read_mnist_layout(folder, [str(i) for i in range(10)])
    assert splits.train.images.shape == (6, 1, 28, 28) and splits.test.labels.tolist() == [0, 1]
    assert len(requests) == 4 and all(requested_range is None for _, requested_range in requests)
    download_mnist(cache, url, md5s(files))  # verified files are not fetched again
    assert len(requests) == 4


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(server, tmp_path):
    root, url, _ = server
    files = mnist_files()
    publish(root, files)
    checksums = md5s(files) | {"train-images-idx3-ubyte.gz": "0" * 32}
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_mnist(cache, url, checksums)
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert not list(cache.glob("*.part"))


def test_a_corrupt_file_that_matches_its_checksum_still_fails_to_parse(server, tmp_path):
    root, url, _ = server
    files = mnist_files() | {"t10k-images-idx3-ubyte.gz": b"corrupt"}
    publish(root, files)
    folder = download_mnist(tmp_path / "cache", url, md5s(files))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: not an IDX file"):
        read_mnist_layout(folder, [str(i) for i in range(10)])


def test_a_partial_download_resumes_with_a_range_request(server, tmp_path):
    root, url, requests = server
    files = mnist_files()
    publish(root, files)
    cache = tmp_path / "cache"
    cache.mkdir()
    name = "train-images-idx3-ubyte.gz"
    (cache / f"{name}.part").write_bytes(files[name][:100])  # an earlier run stopped here
    download_mnist(cache, url, md5s(files))
    assert (cache / name).read_bytes() == files[name]
    assert (f"/{name}", "bytes=100-") in requests


def test_missing_file_on_the_server(server, tmp_path):
    _, url, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download_mnist(tmp_path / "cache", url, md5s(mnist_files()))


def test_offline_gives_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="are you offline"):
        download_mnist(tmp_path / "cache", "http://127.0.0.1:9/", md5s(mnist_files()))


# image folders


def test_image_folder_reads_classes_and_converts_any_mode_and_size(tmp_path):
    for name, colour, size in [("cats", (200, 10, 10), (40, 30)), ("dogs", (10, 10, 200), (16, 16))]:
        folder = tmp_path / name
        folder.mkdir()
        for index in range(10):
            Image.new("RGB", size, colour).save(folder / f"{index}.png")
    Image.new("L", (20, 20), 30).save(tmp_path / "dogs" / "gray.jpg")
    splits = read_image_folder(tmp_path, (3, 8, 12))
    assert splits.train.class_names == ["cats", "dogs"]
    assert splits.train.images.shape[1:] == (3, 8, 12)
    assert len(splits.train) + len(splits.test) == 21
    assert sorted(torch.bincount(splits.test.labels).tolist()) == [1, 1]
    cat = splits.train.images[splits.train.labels == 0][0]
    assert cat[:, 0, 0].tolist() == [200, 10, 10]
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not really a png")
    with pytest.raises(DataError, match=r"dogs/broken.png: not a readable image .*: fix or remove it"):
        read_image_folder(tmp_path, (3, 8, 12))


def test_image_folder_without_class_folders(tmp_path):
    with pytest.raises(DataError, match="one subfolder per class"):
        read_image_folder(tmp_path, (1, 28, 28))


def test_an_exported_folder_reads_back_as_its_source_in_order_with_its_labels(small, tmp_path):
    source = Splits(small.train.subset(300), small.test.subset(50))
    write_image_folder(source, tmp_path / "gray", (1, 28, 28))
    assert (tmp_path / "gray" / "classes.txt").read_text().splitlines()[:2] == ["T-shirt-top", "Trouser"]
    back = read_image_folder(tmp_path / "gray", (1, 28, 28))
    for theirs, ours in ((source.train, back.train), (source.test, back.test)):
        assert torch.equal(theirs.images, ours.images) and torch.equal(theirs.labels, ours.labels)
    assert back.train.class_names[0] == "T-shirt-top"  # "/" cannot be in a folder's name

    write_image_folder(source, tmp_path / "rgb", (3, 32, 32))
    rgb = read_image_folder(tmp_path / "rgb", (3, 32, 32))
    assert rgb.train.images.shape == (300, 3, 32, 32) and torch.equal(rgb.train.labels, source.train.labels)
    assert torch.equal(rgb.train.images[:, 0], rgb.train.images[:, 2])  # gray, as RGB


def test_an_image_folder_with_train_and_test_keeps_them_and_refuses_other_classes(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        for name in ("b", "a"):
            (tmp_path / split / name).mkdir(parents=True)
            for index in range(count):
                Image.new("L", (4, 4), 100 if name == "a" else 200).save(tmp_path / split / name / f"{index}.png")
    splits = read_image_folder(tmp_path, (1, 4, 4))
    assert (len(splits.train), len(splits.test), splits.train.class_names) == (6, 4, ["a", "b"])
    assert splits.train.labels.tolist() == [0, 1] * 3  # by file name, then class
    (tmp_path / "classes.txt").write_text("b\na\n")
    assert read_image_folder(tmp_path, (1, 4, 4)).test.class_names == ["b", "a"]
    (tmp_path / "classes.txt").write_text("b\nc\n")
    with pytest.raises(DataError, match=r"classes.txt lists \['b', 'c'\] but .* has the class folders"):
        read_image_folder(tmp_path, (1, 4, 4))
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "test" / "c").mkdir()
    with pytest.raises(DataError, match=r"train/ has classes \['a', 'b'\] but test/ has \['a', 'b', 'c'\]"):
        read_image_folder(tmp_path, (1, 4, 4))


def test_keep_labels_keeps_a_seeded_class_balanced_subset_and_hides_the_rest(fashion):
    data = fashion.train.subset(6000)
    kept = keep_labels(data, 10, seed=3)
    known = kept.labels >= 0
    assert int(known.sum()) == 100 and torch.equal(kept.labels[known], data.labels[known])
    assert torch.bincount(kept.labels[known], minlength=10).tolist() == [10] * 10
    assert torch.equal(kept.images, data.images) and set(kept.labels[~known].tolist()) == {-1}
    assert torch.equal(keep_labels(data, 10, seed=3).labels, kept.labels)  # the seed fixes the choice
    assert not torch.equal(keep_labels(data, 10, seed=4).labels, kept.labels)
    assert len(kept.labelled()) == 100 and int((keep_labels(data, 0).labels >= 0).sum()) == 0
    with pytest.raises(DataError, match="fewer than"):
        keep_labels(data, 10_000)
