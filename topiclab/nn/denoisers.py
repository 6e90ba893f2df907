"""ε-prediction networks: an MLP for low-dimensional points, a small U-Net for 8×8 images.

net = MLPDenoiser(dim=2)                     # 3 × 128 SiLU, sinusoidal t-embedding
net = UNet8(channels=1, width=32)            # 8×8 -> 4×4 -> 8×8 with a skip
eps = net(x_t, t)                            # t: long tensor (n,), 0-based as in diffusers
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Transformer-style sinusoidal embedding of integer timesteps: (n,) -> (n, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # t may be a float (an embedded coordinate)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class MLPDenoiser(nn.Module):
    """[emb(x), emb(t)] -> ε through ``layers`` residual SiLU layers of ``hidden`` units.

    Each coordinate of x is embedded sinusoidally at ``x_scale`` (as in tiny-diffusion): the
    ε-net must locate modes of σ = 0.02 on a ring of radius 2, a sharp function of x that a
    plain MLP on raw coordinates learns slowly. The output layer starts at zero, so an untrained
    net predicts ε = 0 and its L_simple starts at the data dimension.
    """

    def __init__(
        self,
        dim: int,
        *,
        hidden: int = 128,
        layers: int = 3,
        emb_dim: int = 64,
        x_emb: int = 64,
        x_scale: float = 25.0,
    ) -> None:
        super().__init__()
        self.emb_dim, self.x_emb, self.x_scale = emb_dim, x_emb, x_scale
        self.inp = nn.Linear(dim * x_emb + emb_dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.act = nn.SiLU()
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        n = x.shape[0]
        ex = timestep_embedding(x.reshape(-1) * self.x_scale, self.x_emb).reshape(n, -1)
        h = self.act(self.inp(torch.cat([ex, timestep_embedding(t, self.emb_dim)], dim=1)))
        for block in self.blocks:
            h = h + self.act(block(h))
        return self.out(h)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between, a 1×1 skip if needed."""

    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x))) + self.emb(e)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.skip(x)


class UNet8(nn.Module):
    """A two-level U-Net for 8×8 images (sklearn digits): 8×8 -> 4×4 -> 8×8, one skip."""

    def __init__(self, channels: int = 1, *, width: int = 32, emb_dim: int = 64) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        e = 4 * width
        self.temb = nn.Sequential(nn.Linear(emb_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down1 = ResBlock(width, width, e)
        self.pool = nn.Conv2d(width, width, 3, stride=2, padding=1)  # 8x8 -> 4x4
        self.down2 = ResBlock(width, 2 * width, e)
        self.mid = ResBlock(2 * width, 2 * width, e)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.up1 = ResBlock(3 * width, width, e)
        self.out = nn.Sequential(
            nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1)
        )
        last = self.out[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        e = self.temb(timestep_embedding(t, self.emb_dim))
        h1 = self.down1(self.inp(x), e)
        h2 = self.mid(self.down2(self.pool(h1), e), e)
        h = self.up1(torch.cat([self.up(h2), h1], dim=1), e)
        return self.out(h)
