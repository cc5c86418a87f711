"""Crop-and-flip augmentation: every output image is one of the 2 (2p + 1)^2 crops of the
zero-padded input (checked against a brute-force list of all of them), the draws are seeded by
(seed, epoch), a run with it resumes to the same records, and non-image data is refused."""

from __future__ import annotations

import pytest
import torch

from nc_core.cli.train import main as train_main
from nc_core.data.augment import PAD, augment_generator, crop_flip
from nc_core.train import preset, train
from nc_core.train.state import load_state, save_state
from tests.fake_datasets import write_cifar10


def all_crops(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop of `image` (C, H, W) from its zero-padded copy, flipped and not."""
    C, H, W = image.shape
    padded = torch.zeros(C, H + 2 * pad, W + 2 * pad)
    padded[:, pad : pad + H, pad : pad + W] = image
    crops = [
        padded[:, i : i + H, j : j + W] for i in range(2 * pad + 1) for j in range(2 * pad + 1)
    ]
    return crops + [c.flip(-1) for c in crops]


def test_each_augmented_image_is_a_crop_of_the_padded_image_flipped_or_not():
    x = torch.randn(16, 3, 8, 8)  # no two pixels equal: each crop is told apart
    out = crop_flip(x, augment_generator(0, 0), pad=2)
    assert out.shape == x.shape and out.dtype == x.dtype
    matches = [
        sum(torch.equal(o, c) for c in all_crops(img, 2)) for o, img in zip(out, x, strict=True)
    ]
    assert matches == [1] * len(x)
    unchanged = sum(torch.equal(o, img) for o, img in zip(out, x, strict=True))
    assert unchanged < len(x)  # 16 images at 1 in 50 odds each of being left as they were


def test_the_draws_follow_seed_and_epoch_and_differ_between_epochs():
    x = torch.randn(64, 1, 12, 12)
    same = [crop_flip(x, augment_generator(3, 5)) for _ in range(2)]
    assert torch.equal(*same)
    assert not torch.equal(same[0], crop_flip(x, augment_generator(3, 6)))
    assert not torch.equal(same[0], crop_flip(x, augment_generator(4, 5)))
    flips = torch.stack(
        [
            crop_flip(torch.arange(4.0).view(1, 1, 1, 4), augment_generator(0, e), pad=0)[
                0, 0, 0, 0
            ]
            for e in range(400)
        ]
    )
    assert 0.4 < (flips == 3).float().mean() < 0.6  # flipped about half the time


def test_non_image_batches_are_refused():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        crop_flip(torch.randn(4, 10), augment_generator(0, 0))


def test_a_run_with_crop_flip_resumes_to_the_records_of_an_uninterrupted_one(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    monkeypatch.setenv("NC_DATA_DIR", str(tmp_path))
    cfg = preset("smoke", model="cnn", dataset="cifar10", augment="crop_flip", epochs=3)
    cfg = cfg.replace(subset=5, nc_samples=5, batch_size=8)
    saved = tmp_path / "epoch2.pt"

    def keep_epoch_2(record, state) -> None:
        if record.epoch == 2:
            save_state(state, saved)

    whole = train(cfg, on_epoch=keep_epoch_2).records
    resumed = train(cfg, state=load_state(saved)).records
    keys = ("train_loss", "train_acc", "test_acc")
    assert [[getattr(r, k) for k in keys] for r in resumed] == [
        [getattr(r, k) for k in keys] for r in whole
    ]
    plain = train(cfg.replace(augment="none")).records
    assert plain[-1].train_loss != whole[-1].train_loss  # the augmentation changed training


def test_augmenting_non_image_data_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "r.parquet"
    argv = ["--preset", "smoke", "--dataset", "synthetic", "--augment", "crop_flip"]
    assert train_main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "augment" in err[0] and "synthetic" in err[0]
    assert not out.exists()


def test_the_published_cifar_presets_augment_and_the_collapse_preset_does_not():
    assert preset("cifar10-resnet18").augment == "crop_flip"
    assert preset("cifar100-resnet18").augment == "crop_flip"
    assert preset("cifar10-resnet-mlp").augment == "none"  # Papyan et al. trained without
    assert PAD == 4
