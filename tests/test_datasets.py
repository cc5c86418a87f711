"""The file-backed datasets beyond Fashion-MNIST (mnist, kmnist, cifar10, cifar100): small files
in the real formats and torchvision's layout, read exactly; normalisation by the train split's
own statistics; every missing, truncated or corrupt file a one-line DataError naming it, also
from the command line (exit 2, nothing written); no test downloads anything."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nc_core.data import DATASETS, DataError, check_dataset, files, get_dataset, idx, load_dataset
from nc_core.data import cifar as cifar_module
from nc_core.data.cifar10 import CIFAR10
from nc_core.data.cifar100 import CIFAR100
from nc_core.data.registry import DataRequest
from tests.fake_datasets import (
    IDX_NAMES,
    IMAGES,
    LABELS,
    cifar_arrays,
    mnist_arrays,
    write_cifar10,
    write_cifar100,
    write_idx,
    write_mnist_family,
)

REPO = Path(__file__).resolve().parents[1]
FAMILY = {"mnist": "MNIST", "kmnist": "KMNIST"}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No download can happen: torchvision's classes raise, and the working directory is empty."""
    import torchvision

    calls = []

    def refuse(name):
        def fake(root, train, download):
            calls.append((name, Path(root)))
            (Path(root) / name / "raw").mkdir(parents=True)  # what torchvision makes first
            raise RuntimeError(f"no network for {name}")

        return fake

    for name in ("MNIST", "KMNIST", "FashionMNIST", "CIFAR10", "CIFAR100"):
        monkeypatch.setattr(torchvision.datasets, name, refuse(name))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("NC_DATA_DIR", raising=False)
    files._VERIFIED.clear()
    return calls


def use_root(monkeypatch, root: Path) -> None:
    monkeypatch.setenv("NC_DATA_DIR", str(root))


# ---------------------------------------------------------------------------- registry


def test_every_image_dataset_is_registered_with_its_shape_and_classes():
    expected = {
        "mnist": (10, (1, 28, 28), 5421),
        "kmnist": (10, (1, 28, 28), 6000),
        "fashion_mnist": (10, (1, 28, 28), 6000),
        "cifar10": (10, (3, 32, 32), 5000),
        "cifar100": (100, (3, 32, 32), 500),
    }
    for name, (k, shape, per_class) in expected.items():
        entry = get_dataset(name)
        assert (entry.num_classes, entry.input_shape, entry.train_per_class) == (
            k,
            shape,
            per_class,
        )
        assert entry.check is not None and entry.normalization
    assert get_dataset("synthetic").check is None
    assert set(expected) | {"synthetic"} <= set(DATASETS.names())


def test_cifar_releases_list_torchvisions_folders_files_and_md5s():
    import torchvision

    for release, cls in (
        (CIFAR10, torchvision.datasets.CIFAR10),
        (CIFAR100, torchvision.datasets.CIFAR100),
    ):
        assert release.folder == cls.base_folder
        assert [list(f) for f in release.train_files] == cls.train_list
        assert [list(f) for f in release.test_files] == cls.test_list
        assert release.meta_file == (cls.meta["filename"], cls.meta["md5"])
        assert release.names_key == cls.meta["key"]


# ---------------------------------------------------------------------------- MNIST family


@pytest.mark.parametrize("name", sorted(FAMILY))
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_family_reads_torchvision_layout_exactly_normalised_by_train_stats(
    name, gz, tmp_path, monkeypatch, offline
):
    arrays = mnist_arrays(train_per_class=6, test_per_class=2)
    write_mnist_family(tmp_path, FAMILY[name], arrays, gz=gz)
    use_root(monkeypatch, tmp_path)
    check_dataset(name)
    train, test = load_dataset(name)
    pixels = arrays["train_x"].astype(np.float64) / 255
    mean, std = pixels.mean(), pixels.std()
    for split, part in ((train, "train"), (test, "test")):
        n = len(arrays[f"{part}_y"])
        assert split.x.shape == (n, 1, 28, 28) and split.x.dtype == torch.float32
        expected = (torch.from_numpy(arrays[f"{part}_x"]).double() / 255 - mean) / std
        torch.testing.assert_close(split.x[:, 0].double(), expected, rtol=0, atol=1e-5)
        assert torch.equal(split.y, torch.from_numpy(arrays[f"{part}_y"]).long())
    assert abs(float(train.x.mean())) < 1e-5 and abs(float(train.x.std(unbiased=False)) - 1) < 1e-4
    assert offline == []  # nothing was downloaded


def test_channel_stats_are_exact_per_channel_mean_and_population_std():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (7, 3, 5, 4)).astype(np.uint8)
    mean, std = files.channel_stats(images, channel_axis=1)
    x = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3)), rtol=1e-12)


def test_mnist_is_not_read_from_a_flat_folder_or_another_members_folder(
    tmp_path, monkeypatch, offline
):
    write_mnist_family(tmp_path, "FashionMNIST")  # Fashion-MNIST's files, same names
    for name in IDX_NAMES.values():  # and a flat copy in the root
        (tmp_path / f"{name}.gz").write_bytes(
            (tmp_path / "FashionMNIST" / "raw" / f"{name}.gz").read_bytes()
        )
    use_root(monkeypatch, tmp_path)
    with pytest.raises(DataError) as info:
        check_dataset("mnist")
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "no such folder" in message
    assert "NC_DATA_DIR" in message and "\n" not in message


def corrupt_gz(raw: Path) -> Path:
    path = raw / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path


def corrupt_magic(raw: Path) -> Path:
    path = raw / "train-labels-idx1-ubyte.gz"
    write_idx(path, mnist_arrays()["train_y"], IMAGES)
    return path


def corrupt_count(raw: Path) -> Path:
    path = raw / "t10k-labels-idx1-ubyte.gz"
    write_idx(path, mnist_arrays()["test_y"][:-1], LABELS)
    return path


def corrupt_short(raw: Path) -> Path:
    path = raw / "t10k-images-idx3-ubyte.gz"
    x = mnist_arrays()["test_x"]
    write_idx(path, x.reshape(-1)[:-5], IMAGES, dims=x.shape)
    return path


def corrupt_side(raw: Path) -> Path:
    path = raw / "train-images-idx3-ubyte.gz"
    write_idx(path, mnist_arrays()["train_x"][:, :27], IMAGES)
    return path


def corrupt_label(raw: Path) -> Path:
    path = raw / "train-labels-idx1-ubyte.gz"
    y = mnist_arrays()["train_y"].copy()
    y[3] = 12
    write_idx(path, y, LABELS)
    return path


def missing_file(raw: Path) -> Path:
    path = raw / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    return raw


@pytest.mark.parametrize(
    "corrupt,reason",
    [
        (corrupt_gz, "cannot read"),
        (corrupt_magic, "magic number 0x00000803, expected 0x00000801"),
        (corrupt_count, "header dimensions (29,), expected (30,)"),
        (corrupt_short, "data bytes"),
        (corrupt_side, "header dimensions (100, 27, 28), expected (any, 28, 28)"),
        (corrupt_label, "label 12 outside 0..9"),
        (missing_file, "missing t10k-labels-idx1-ubyte"),
    ],
)
def test_bad_mnist_file_is_one_line_data_error_naming_it_and_the_fix(
    corrupt, reason, tmp_path, monkeypatch, offline
):
    raw = write_mnist_family(tmp_path, "MNIST")
    bad = corrupt(raw)
    use_root(monkeypatch, tmp_path)
    for action in (lambda: check_dataset("mnist"), lambda: load_dataset("mnist")):
        with pytest.raises(DataError) as info:
            action()
        message = str(info.value)
        assert str(bad) in message and reason in message, message
        assert "NC_DATA_DIR" in message and "torchvision" in message and "\n" not in message
    assert offline == []  # a folder the user named is never downloaded into


def test_without_a_folder_the_check_passes_and_the_load_downloads_into_dot_data(offline):
    check_dataset("kmnist")  # absent, no folder named: the load would download
    with pytest.raises(DataError) as info:
        load_dataset("kmnist")
    assert offline == [("KMNIST", Path.cwd() / "data")]
    message = str(info.value)
    assert "download into" in message and "no network for KMNIST" in message
    assert "\n" not in message
    assert list(Path.cwd().iterdir()) == []  # the failed download left no folder behind


def test_a_verified_file_set_is_read_once_per_process(tmp_path, monkeypatch, offline):
    write_mnist_family(tmp_path, "MNIST")
    use_root(monkeypatch, tmp_path)
    reads = []
    original = idx.read_family
    monkeypatch.setattr(idx, "read_family", lambda *a, **k: reads.append(1) or original(*a, **k))
    check_dataset("mnist")
    check_dataset("mnist")
    assert len(reads) == 1
    raw = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    write_idx(raw, mnist_arrays()["test_y"][:-1], LABELS)  # changed: checked again, and fails
    with pytest.raises(DataError, match="header dimensions"):
        check_dataset("mnist")


# ---------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_reads_torchvision_pickles_exactly_normalised_per_channel(
    name, tmp_path, monkeypatch, offline
):
    if name == "cifar10":
        write_cifar10(tmp_path, train_per_class=5, test_per_class=2)
        (x, y), (xt, yt) = cifar_arrays(10, 5, 2)
    else:
        write_cifar100(tmp_path, train_per_class=2, test_per_class=1)
        (x, y), (xt, yt) = cifar_arrays(100, 2, 1)
    use_root(monkeypatch, tmp_path)
    check_dataset(name)
    train, test = load_dataset(name)
    images = x.reshape(-1, 3, 32, 32).astype(np.float64) / 255
    mean = images.mean(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    std = images.std(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    for split, xs, ys in ((train, x, y), (test, xt, yt)):
        assert split.x.shape == (len(ys), 3, 32, 32) and split.x.dtype == torch.float32
        expected = (xs.reshape(-1, 3, 32, 32).astype(np.float64) / 255 - mean) / std
        np.testing.assert_allclose(split.x.numpy(), expected, rtol=0, atol=1e-5)
        assert split.y.tolist() == list(ys)
    per_channel = train.x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(3), rtol=0, atol=1e-5)
    assert offline == []


def rewrite(path: Path, change) -> Path:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    change(batch)
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return path


def truncated(folder: Path) -> Path:
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-100])
    return path


def not_a_pickle(folder: Path) -> Path:
    path = folder / "test_batch"
    path.write_bytes(gzip.compress(b"not a pickle"))
    return path


def no_labels(folder: Path) -> Path:
    return rewrite(folder / "data_batch_2", lambda b: b.pop("labels"))


def wrong_width(folder: Path) -> Path:
    return rewrite(folder / "data_batch_1", lambda b: b.update(data=b["data"][:, :1000]))


def label_range(folder: Path) -> Path:
    return rewrite(folder / "data_batch_5", lambda b: b["labels"].__setitem__(0, 10))


def count_mismatch(folder: Path) -> Path:
    return rewrite(folder / "data_batch_4", lambda b: b["labels"].pop())


def meta_names(folder: Path) -> Path:
    return rewrite(folder / "batches.meta", lambda b: b["label_names"].pop())


def gone(folder: Path) -> Path:
    path = folder / "data_batch_5"
    path.unlink()
    return path


def code_in_pickle(folder: Path) -> Path:
    path = folder / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({"data": Exploit(), "labels": []}, f, protocol=2)
    return path


class Exploit:
    """A pickle that would run a command when read by an unrestricted unpickler."""

    def __reduce__(self):
        return (subprocess.call, (["touch", "/tmp/nc_core_should_not_exist"],))


@pytest.mark.parametrize(
    "corrupt,reason",
    [
        (truncated, "cannot read"),
        (not_a_pickle, "cannot read"),
        (no_labels, "no 'labels' entry"),
        (wrong_width, "expected (N, 3072)"),
        (label_range, "label 10 outside 0..9"),
        (count_mismatch, "labels for"),
        (meta_names, "9 'label_names', expected 10"),
        (gone, "no such file"),
        (code_in_pickle, "is not allowed in CIFAR data"),
    ],
)
def test_bad_cifar_file_is_one_line_data_error_naming_it(
    corrupt, reason, tmp_path, monkeypatch, offline
):
    bad = corrupt(write_cifar10(tmp_path))
    use_root(monkeypatch, tmp_path)
    for action in (lambda: check_dataset("cifar10"), lambda: load_dataset("cifar10")):
        with pytest.raises(DataError) as info:
            action()
        message = " ".join(str(info.value).split())
        assert str(bad) in message and reason in message, message
        assert "NC_DATA_DIR" in message and "\n" not in str(info.value)
    assert not Path("/tmp/nc_core_should_not_exist").exists()
    assert offline == []


def test_cifar100_missing_meta_is_named(tmp_path, monkeypatch, offline):
    folder = write_cifar100(tmp_path)
    (folder / "meta").unlink()
    use_root(monkeypatch, tmp_path)
    with pytest.raises(DataError, match=str(folder / "meta")):
        check_dataset("cifar100")


def test_cifar_in_dot_data_is_unpickled_only_with_torchvisions_md5(tmp_path, offline):
    write_cifar10(Path.cwd() / "data")  # not torchvision's download: other MD5s
    with pytest.raises(DataError) as info:
        check_dataset("cifar10")
    message = str(info.value)
    assert "MD5" in message and "data_batch_1" in message and "\n" not in message
    assert offline == []  # present files are never downloaded over


def test_cifar_without_folder_or_files_downloads_with_torchvision(offline):
    check_dataset("cifar100")  # nothing there and no folder named: the load would download
    with pytest.raises(DataError, match="no network for CIFAR100"):
        load_dataset("cifar100")
    assert offline == [("CIFAR100", Path.cwd() / "data")]


def test_read_pickle_reads_python2_style_latin1_strings(tmp_path):
    path = tmp_path / "batch"
    # A protocol-2 pickle of a dict with byte-string keys, as Python 2 wrote str keys.
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, f, protocol=2)
    batch = cifar_module.read_pickle(path, "how")
    assert set(batch) == {"data", "labels"} and batch["data"].shape == (1, 3072)


# ---------------------------------------------------------------------------- command line


def run_train(args: list[str], env_root: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "NC_DATA_DIR": str(env_root), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "nc_core.train", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_shows_a_bad_file_as_one_line_exit_2_and_writes_nothing(tmp_path):
    root = tmp_path / "data"
    truncated(write_cifar10(root))
    out = tmp_path / "run.parquet"
    args = ["--preset", "smoke", "--model", "mlp", "--dataset", "cifar10", "--out", str(out)]
    done = run_train(args, root, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "data_batch_3" in lines[0] and "cannot read" in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not out.exists()


def test_command_line_trains_on_small_mnist_files(tmp_path):
    root = tmp_path / "data"
    write_mnist_family(root, "MNIST", mnist_arrays(train_per_class=8, test_per_class=2))
    args = ["--preset", "smoke", "--dataset", "mnist", "--subset", "8", "--epochs", "1"]
    done = run_train([*args, "--quiet", "--out", str(tmp_path / "r.parquet")], root, tmp_path)
    assert done.returncode == 0, done.stderr
    import pandas as pd

    epochs = pd.read_parquet(tmp_path / "r.parquet")
    assert epochs.dataset.tolist() == ["mnist"] and epochs.trainable_params.iloc[0] > 0
    # the data it read, traced: the folder, and a digest recomputed here from the files
    folder = root / "MNIST" / "raw"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    assert epochs.data_dir.tolist() == [str(folder.resolve())]
    assert epochs.data_digest.tolist() == [digest.hexdigest()[:12]]
    # other bytes, another digest
    victim = sorted(folder.iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    assert files.data_trace(files.source_of(folder.iterdir()))[1] != epochs.data_digest.iloc[0]
    assert files.data_trace(()) == ("", "")  # generated data reads no files


def test_data_request_root_is_nc_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NC_DATA_DIR", str(tmp_path))
    from nc_core.data.registry import data_request

    assert data_request() == DataRequest(root=tmp_path)
