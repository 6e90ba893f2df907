"""The cross-modal streams: real photo patches cut as Delétang et al. cut ImageNet."""

from __future__ import annotations

import gzip

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_image

from topiclab.plugins.compression.data import photo_image, synthetic_image


def _gray(name: str) -> np.ndarray:
    return np.asarray(Image.fromarray(load_sample_image(name)).convert("L"))


def test_photo_patches_are_the_photos_own_pixels() -> None:
    data = photo_image(4 * 2048)  # two patches of each photo: the first and the last
    tiles = np.frombuffer(data, dtype=np.uint8).reshape(4, 32, 64)
    china, flower = _gray("china.jpg"), _gray("flower.jpg")
    assert (tiles[0] == china[:32, :64]).all()
    assert (tiles[1] == flower[:32, :64]).all()
    # 427x640 holds 13x10 whole patches; the last is rows 384-416, columns 576-640
    assert (tiles[2] == china[384:416, 576:640]).all()
    assert (tiles[3] == flower[384:416, 576:640]).all()


def test_photo_stream_is_neither_trivial_nor_noise() -> None:
    data = photo_image(16_384)
    assert len(data) == 16_384 and len(set(data)) > 100
    rate = len(gzip.compress(data, 9)) / len(data)
    assert 0.4 < rate < 0.95  # Delétang et al., ImageNet patches: gzip 70.7 %
    assert photo_image(16_384) == data and synthetic_image(16_384) != data
