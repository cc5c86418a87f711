"""nc_core.data.fashion_mnist: IDX loading, exact values, every corruption and missing place named.

The fake Fashion-MNIST has the real counts (60000 / 10000 images of 28x28), so the loader runs
with the same checks as on the real files; its pixels are zero but for random first and last
images, which keeps the gzip files small and still pins every offset.
"""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from nc_core.data import fashion_mnist
from nc_core.data.fashion_mnist import DataError, load_fashion_mnist
from nc_core.data.split import Split

IMAGES, LABELS = 0x00000803, 0x00000801


def write_idx(path: Path, array: np.ndarray, magic: int, dims: tuple[int, ...] | None = None):
    """Write `array` (uint8) as an IDX file, gzipped when `path` ends in .gz."""
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    raw = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(raw, compresslevel=1))
    else:
        path.write_bytes(raw)


def fake_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, n in (("train", 60000), ("test", 10000)):
        x = np.zeros((n, 28, 28), np.uint8)
        x[:32] = rng.integers(0, 256, (32, 28, 28))
        x[-1] = rng.integers(0, 256, (28, 28))
        x[0, 0, 0], x[0, 0, 1] = 0, 255  # both ends of the range present
        arrays[f"{part}_x"] = x
        arrays[f"{part}_y"] = rng.integers(0, 10, n).astype(np.uint8)
    return arrays


def write_dataset(directory: Path, arrays: dict[str, np.ndarray], suffix: str = ".gz") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for part, (name, magic, _) in fashion_mnist.FILES.items():
        write_idx(directory / f"{name}{suffix}", arrays[part], magic)
    return directory


@pytest.fixture(scope="module")
def fake() -> dict[str, np.ndarray]:
    return fake_arrays()


@pytest.fixture(scope="module")
def gz_dir(fake, tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("fmnist_gz"), fake)


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No default place has data: empty cwd, no NC_DATA_DIR, DEBIAN_DIR points nowhere."""
    monkeypatch.delenv("NC_DATA_DIR", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian")
    return tmp_path


def assert_matches(train: Split, test: Split, fake: dict[str, np.ndarray]) -> None:
    for split, part in ((train, "train"), (test, "test")):
        n = fake[f"{part}_y"].shape[0]
        assert split.x.shape == (n, 1, 28, 28) and split.x.dtype == torch.float32
        assert split.y.shape == (n,) and split.y.dtype == torch.int64
        expected = torch.from_numpy(fake[f"{part}_x"]).float().div(255).unsqueeze(1)
        assert torch.equal(split.x, expected)
        assert torch.equal(split.y, torch.from_numpy(fake[f"{part}_y"]).long())


def test_loader_reads_gz_idx_files_exactly(gz_dir, fake, isolated):
    train, test = load_fashion_mnist(gz_dir, download=False)
    assert_matches(train, test, fake)
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0


def test_a_named_folder_is_the_only_place_looked(gz_dir, fake, isolated, monkeypatch):
    env = isolated / "env"
    write_dataset(env / "FashionMNIST" / "raw", fake, suffix="")  # torchvision's layout
    monkeypatch.setenv("NC_DATA_DIR", str(env))
    assert_matches(*load_fashion_mnist(download=False), fake)  # NC_DATA_DIR, uncompressed
    partial = shutil.copytree(gz_dir, isolated / "partial")
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:  # a root lacking one file: never the env's copy
        load_fashion_mnist(partial, download=True)
    assert f"{partial}: no Fashion-MNIST IDX files there" in str(info.value)
    assert "missing t10k-labels-idx1-ubyte" in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert sorted(p.name for p in partial.iterdir()) == sorted(  # nothing downloaded into it
        p.name for p in gz_dir.iterdir() if p.name != "t10k-labels-idx1-ubyte.gz"
    )


def corrupt_truncate_gz(directory: Path, fake) -> Path:
    path = directory / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path


def corrupt_magic(directory: Path, fake) -> Path:
    path = directory / "train-labels-idx1-ubyte.gz"
    write_idx(path, fake["train_y"], IMAGES)  # an image magic in a label file
    return path


def corrupt_dims(directory: Path, fake) -> Path:
    path = directory / "t10k-images-idx3-ubyte.gz"
    write_idx(path, fake["test_x"][:, :27], IMAGES)  # 10000 x 27 x 28: header and bytes agree
    return path


def corrupt_count(directory: Path, fake) -> Path:
    path = directory / "train-labels-idx1-ubyte.gz"
    write_idx(path, fake["train_y"][:59999], LABELS)
    return path


def corrupt_short_body(directory: Path, fake) -> Path:
    path = directory / "train-images-idx3-ubyte.gz"
    write_idx(path, fake["train_x"].reshape(-1)[:-1], IMAGES, dims=(60000, 28, 28))
    return path


def corrupt_label_range(directory: Path, fake) -> Path:
    path = directory / "t10k-labels-idx1-ubyte.gz"
    labels = fake["test_y"].copy()
    labels[1234] = 10
    write_idx(path, labels, LABELS)
    return path


@pytest.mark.parametrize(
    "corrupt,reason",
    [
        (corrupt_truncate_gz, "cannot read"),
        (corrupt_magic, "magic number 0x00000803, expected 0x00000801"),
        (corrupt_dims, "header dimensions (10000, 27, 28)"),
        (corrupt_count, "header dimensions (59999,)"),
        (corrupt_short_body, "47039999 data bytes"),
        (corrupt_label_range, "label 10 outside 0..9"),
    ],
)
def test_corrupt_file_raises_data_error_naming_it(corrupt, reason, gz_dir, fake, isolated):
    directory = shutil.copytree(gz_dir, isolated / "copy")
    bad = corrupt(directory, fake)
    with pytest.raises(DataError) as info:
        load_fashion_mnist(directory, download=False)
    message = str(info.value)
    assert str(bad) in message and reason in message
    assert "dataset-fashion-mnist" in message
    for name, _, _ in fashion_mnist.FILES.values():  # only the file at fault is named
        assert name not in message.replace(bad.name, "")


def test_nothing_found_lists_every_place_looked(isolated, monkeypatch):
    with pytest.raises(DataError) as info:
        load_fashion_mnist(download=False)
    message = str(info.value)
    for base in ("cwd/data/fashion-mnist", "debian"):
        assert f"{isolated / base} (" in message
        assert f"{isolated / base / 'FashionMNIST' / 'raw'} (" in message
    assert "apt-get install dataset-fashion-mnist" in message and "NC_DATA_DIR" in message
    assert "download=False" in message
    # NC_DATA_DIR named: that folder alone, in one line, and nothing is created there
    monkeypatch.setenv("NC_DATA_DIR", str(isolated / "env"))
    with pytest.raises(DataError) as info:
        load_fashion_mnist(download=True)
    message = str(info.value)
    assert message.startswith(f"NC_DATA_DIR={isolated / 'env'}: no Fashion-MNIST IDX files")
    assert "debian" not in message.split("unset NC_DATA_DIR")[0]
    assert len(message.splitlines()) == 1 and not (isolated / "env").exists()


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Error downloading train-images-idx3-ubyte.gz"),
        urllib.error.URLError("Name or service not known"),
    ],
)
def test_failed_download_is_a_data_error(error, isolated, monkeypatch):
    import torchvision

    calls = []

    def offline(root, train, download):
        calls.append(Path(root))
        (Path(root) / "FashionMNIST" / "raw").mkdir(parents=True)  # as torchvision does
        raise error

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataError) as info:
        load_fashion_mnist(download=True)
    assert calls == [isolated / "cwd" / "data" / "fashion-mnist"]
    message = str(info.value)
    assert f"download into {calls[0]} failed" in message and str(error) in message
    assert f"{isolated / 'debian'} (" in message
    assert list((isolated / "cwd").iterdir()) == []  # the folders it made are gone


@pytest.mark.skipif(
    not fashion_mnist.DEBIAN_DIR.is_dir(),
    reason=f"real Fashion-MNIST not installed at "
    f"{fashion_mnist.DEBIAN_DIR} (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_counts_balance_and_range():
    train, test = load_fashion_mnist(fashion_mnist.DEBIAN_DIR, download=False)
    assert len(train) == 60000 and len(test) == 10000
    assert train.y.bincount().tolist() == [6000] * 10
    assert test.y.bincount().tolist() == [1000] * 10
    for split in (train, test):
        assert split.x.shape[1:] == (1, 28, 28) and split.x.dtype == torch.float32
        assert float(split.x.min()) == 0.0 and float(split.x.max()) == 1.0
