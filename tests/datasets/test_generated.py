"""The generated datasets: deterministic from a seed, the documented shapes and ranges, cached on disk."""
import os

import numpy as np
import pytest

from qnn_lite.data import (load_distorted_digits, load_mnist1d, make_distorted_digits, make_mnist1d)
from qnn_lite.data.cache import cache_dir
from qnn_lite.data.mnist1d import templates


def test_mnist1d_templates_match_the_paper_recipe():
    t = templates()
    assert t.shape == (10, 12)
    np.testing.assert_allclose(t[:, 0], 0)                         # every template starts at 0
    np.testing.assert_allclose((t * 6).std(1), 1, rtol=1e-12)       # whitened before the /6


def test_mnist1d_is_deterministic_balanced_and_normalised():
    a, b = make_mnist1d(500, seed=3), make_mnist1d(500, seed=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["x"].shape == (400, 40) and a["x_test"].shape == (100, 40)
    assert a["x"].dtype == np.float32 and a["y"].dtype == np.int64
    assert np.bincount(np.concatenate([a["y"], a["y_test"]]), minlength=10).tolist() == [50] * 10
    allx = np.concatenate([a["x"], a["x_test"]])
    assert abs(allx.mean()) < 1e-4 and abs(allx.std() - 1) < 1e-4
    c = make_mnist1d(500, seed=4)
    assert not np.array_equal(a["x"], c["x"])


def test_distorted_digits_shapes_range_and_determinism():
    a = make_distorted_digits(200, 50, size=16, seed=1)
    b = make_distorted_digits(200, 50, size=16, seed=1)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert a["x"].shape == (200, 1, 16, 16) and a["x_test"].shape == (50, 1, 16, 16)
    assert a["x"].dtype == np.float32 and 0 <= a["x"].min() and a["x"].max() <= 1
    assert set(np.unique(a["y"])) <= set(range(10)) and len(np.unique(a["y"])) == 10
    big = make_distorted_digits(20, 5, size=32, seed=1)
    assert big["x"].shape == (20, 1, 32, 32)


def test_distorted_digits_without_distortion_is_the_enlarged_digit():
    """All distortions off: each sample is its 8x8 source upscaled, so the class means differ clearly."""
    d = make_distorted_digits(500, 10, seed=0, rotate=0, scale=0, shear=0, shift=0, elastic_alpha=0,
                              clutter=0, noise=0)
    means = np.stack([d["x"][d["y"] == c].mean(0).ravel() for c in range(10)])
    nearest = np.argmin(((d["x"].reshape(500, 1, -1) - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == d["y"]) > 0.85


def test_distorted_digits_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="unknown distortion parameter"):
        make_distorted_digits(10, 10, rotation=5)
    with pytest.raises(ValueError, match="size"):
        make_distorted_digits(10, 10, size=4)


@pytest.mark.parametrize("load, kw", [(load_mnist1d, dict(num_samples=200)),
                                      (load_distorted_digits, dict(n_train=60, n_test=20))])
def test_loaders_cache_on_disk_and_read_back(tmp_path, load, kw):
    first = load(cache_dir=tmp_path, **kw)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npz")
    second = load(cache_dir=tmp_path, **kw)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    nodisk = load(cache_dir=False, **kw)
    np.testing.assert_array_equal(first[0], nodisk[0])
    assert len(os.listdir(tmp_path)) == 1


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QNN_LITE_CACHE", str(tmp_path))
    assert cache_dir() == str(tmp_path)
    monkeypatch.delenv("QNN_LITE_CACHE")
    assert cache_dir().endswith(os.path.join(".cache", "qnn_lite"))
    with pytest.raises(TypeError, match="cache_dir must be a path"):
        cache_dir(3)


def test_mnist1d_image_layout():
    X, y, Xt, yt = load_mnist1d(num_samples=100, cache_dir=False)
    assert X.shape == (80, 1, 1, 40) and Xt.shape == (20, 1, 1, 40)
    Xf = load_mnist1d(num_samples=100, cache_dir=False, image=False)[0]
    np.testing.assert_array_equal(Xf, X.reshape(80, 40))
