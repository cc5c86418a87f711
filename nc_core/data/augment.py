"""Random-crop and horizontal-flip augmentation of image batches, seeded like the batches.

The common CIFAR recipe (He et al. 2016; kuangliu/pytorch-cifar) pads each 32 x 32 image by 4
pixels, takes a random 32 x 32 crop and flips it left-right with probability 1/2. Here it runs on
a batch already in memory, on its device: the pad is 0 of the normalised input (each channel's
train mean, where the recipe pads black before normalising), and the offsets and flips are drawn
from a CPU generator seeded from (seed, epoch), apart from the permutation's, so a resumed run
sees the same augmented batches as an uninterrupted one.
"""

from __future__ import annotations

import torch

AUGMENTS = ("none", "crop_flip")
PAD = 4  # pixels added on each side before the crop
STREAM = 500_000_009  # keeps the augmentation's generator apart from the permutation's


def augment_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's crops and flips."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + STREAM)


def crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """Each image of `x` (B, C, H, W) cropped back to H x W at a random offset of its zero-padded
    copy (B, C, H + 2 pad, W + 2 pad), then flipped left-right with probability 1/2."""
    if x.dim() != 4:
        raise ValueError(f"crop_flip: expected images (B, C, H, W), got shape {tuple(x.shape)}")
    B, C, H, W = x.shape
    rows0 = torch.randint(0, 2 * pad + 1, (B,), generator=gen)  # (B,) top of each crop
    cols0 = torch.randint(0, 2 * pad + 1, (B,), generator=gen)  # (B,) left of each crop
    flip = torch.rand(B, generator=gen) < 0.5  # (B,)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    dev = x.device
    rows = (rows0[:, None] + torch.arange(H)).to(dev)  # (B, H)
    cols = (cols0[:, None] + torch.arange(W)).to(dev)  # (B, W)
    cols = torch.where(flip.to(dev)[:, None], cols.flip(1), cols)  # a flip reverses the columns
    b = torch.arange(B, device=dev)[:, None, None, None]
    c = torch.arange(C, device=dev)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)
