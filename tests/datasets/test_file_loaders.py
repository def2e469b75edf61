"""MNIST IDX and CIFAR-10 loaders on small files written here in those formats; clear errors otherwise."""
import gzip
import pickle
import struct

import numpy as np
import pytest

from qnn_lite.data import load_cifar10, load_mnist, read_idx


def write_idx(path, array, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(raw)


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", 5, False), ("t10k", 3, True)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{ext}", imgs, gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{ext}", labels, gz)
        np.save(tmp_path / f"{prefix}_truth.npy", imgs)
        np.save(tmp_path / f"{prefix}_labels.npy", labels)
    return tmp_path


def test_read_idx_round_trips_types(tmp_path):
    a = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", a)
    got = read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(got, a)
    assert got.dtype.byteorder in "=|<" or got.dtype.isnative


@pytest.mark.parametrize("kind, prefix", [("train", "train"), ("test", "t10k")])
def test_load_mnist_plain_and_gz(mnist_dir, kind, prefix):
    X, y = load_mnist(mnist_dir, kind)
    truth = np.load(mnist_dir / f"{prefix}_truth.npy")
    assert X.shape == (len(truth), 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0], truth / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, np.load(mnist_dir / f"{prefix}_labels.npy"))
    assert y.dtype == np.int64


def test_mnist_errors_name_the_path(tmp_path, mnist_dir):
    with pytest.raises(FileNotFoundError, match="no folder at .*nowhere"):
        load_mnist(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*empty"):
        load_mnist(empty)
    bad = mnist_dir / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*is not an IDX file"):
        load_mnist(mnist_dir)
    trunc = tmp_path / "trunc.idx"
    write_idx(trunc, np.zeros((4, 2, 2), np.uint8))
    trunc.write_bytes(trunc.read_bytes()[:-3])
    with pytest.raises(ValueError, match="trunc.idx.*holds 13 data bytes.*needs 16"):
        read_idx(trunc)
    with pytest.raises(ValueError, match="kind must be 'train' or 'test'"):
        load_mnist(mnist_dir, "val")


def write_cifar(folder, names, n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
        out[name] = (data, labels)
    return out


def test_load_cifar10(tmp_path):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    truth = write_cifar(tmp_path, names)
    X, y = load_cifar10(tmp_path, "train")
    assert X.shape == (20, 3, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    d1, l1 = truth["data_batch_1"]
    np.testing.assert_allclose(X[:4], d1.reshape(4, 3, 32, 32) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y[:4], l1)
    Xt, yt = load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(yt, truth["test_batch"][1])


def test_cifar_errors_name_the_path(tmp_path):
    write_cifar(tmp_path, ["data_batch_1", "test_batch"])
    with pytest.raises(FileNotFoundError, match=r"lacks \['data_batch_2'"):
        load_cifar10(tmp_path, "train")
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="test_batch.*is not a CIFAR-10 python batch"):
        load_cifar10(tmp_path, "test")
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"test_batch.*data \(2, 100\)"):
        load_cifar10(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="no folder at"):
        load_cifar10(tmp_path / "missing")
