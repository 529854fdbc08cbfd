import gzip
import shutil

import numpy as np
import pytest

from playground.data import CLASSES, as_tensor, load_fashion_mnist


def test_train_and_test_splits():
    x, y = load_fashion_mnist("train")
    assert x.shape == (60_000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60_000,) and set(np.unique(y)) == set(range(len(CLASSES)))
    xt, yt = load_fashion_mnist("test")
    assert xt.shape == (10_000, 28, 28) and np.bincount(yt).tolist() == [1000] * 10


def test_as_tensor_range():
    x, _ = load_fashion_mnist("test")
    t = as_tensor(x[:10])
    assert t.shape == (10, 1, 28, 28) and 0 <= t.min() and t.max() <= 1
    t2 = as_tensor(x[:10], -1, 1)
    assert t2.min() >= -1 and t2.max() <= 1 and t2.min() < 0


def test_missing_files_name_the_debian_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)


def test_env_override_and_corrupt_file(tmp_path, monkeypatch):
    from playground.data import DEFAULT_DIR

    for f in DEFAULT_DIR.glob("t10k-*"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    x, _ = load_fashion_mnist("test")
    assert x.shape == (10_000, 28, 28)
    # truncate the images file: a clear error, not a crash
    raw = gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:5000]))
    shutil.copy(tmp_path / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist("test", root=bad)
    # not gzip at all / cut mid-stream: still a clear ValueError
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="corrupt"):
        load_fashion_mnist("test", root=bad)
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw)[:3000])
    with pytest.raises(ValueError, match="corrupt"):
        load_fashion_mnist("test", root=bad)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation")
