"""Gato's tokenizer (Reed et al. 2022, sec. 2.1), scaled down: one id space for every modality.

    from topiclab.nn import gato_tokenizer as gt
    ids = gt.continuous_tokens(np.array([0.1, -2.0]))      # μ-law, 1,024 bins, own id range
    gt.decode_continuous(ids)                               # bin centres, back in raw units
    step = gt.timestep(obs_ids, action_ids)                 # obs | SEP | action, local positions

Id ranges (disjoint, unlike the paper, where discrete values reuse text ids [0, 1024)):

    text        [0, 256)        bytes (the paper: 32,000 SentencePiece subwords)
    discrete    [256, 1280)     integers 0..1023 (Atari buttons, grid states)
    continuous  [1280, 2304)    μ-law (μ=100, M=256) unless in [-1, 1], then 1,024 uniform bins
    SEP 2304, IMAGE 2305 (a patch: its embedding comes from the ResNet patch encoder), PAD 2306

The paper μ-law encodes a value "to the range [-1, 1] if not already there": ``mu`` says per
value whether it is μ-law encoded (the default) or, lying in [-1, 1] already, binned uniformly
(the control tasks decide per dimension from the space's bounds).

A token is a record of four ints (``FIELDS``): id, local position, patch index (-1: no image),
loss mask (1 on text and action tokens only: Gato's masked log-likelihood).
"""

from __future__ import annotations

import numpy as np

TEXT_START, TEXT_SIZE = 0, 256
DISCRETE_START, DISCRETE_SIZE = 256, 1024
CONT_START, N_BINS = 1280, 1024
SEP, IMAGE, PAD = 2304, 2305, 2306
VOCAB_SIZE = 2307
MU, M = 100.0, 256.0  # Reed et al. 2022, sec. 2.1 and Fig. 14
HALF_BIN = 1.0 / N_BINS  # bins are 2/1024 wide in the encoded space [-1, 1]

# Local positions (sec. 2.2): 0 text/separator, 1 every action token, 2 + i the i-th token of
# an observation (for an image patch, i is its index in the image).
LOCAL_TEXT, LOCAL_ACTION, LOCAL_OBS = 0, 1, 2
N_LOCAL = LOCAL_OBS + 64
FIELDS = 4  # id, local position, patch index, loss mask


def mu_law(x: np.ndarray, mu: float = MU, m: float = M) -> np.ndarray:
    """F(x) = sgn(x)·log(|x|μ + 1)/log(Mμ + 1), clipped to [-1, 1] (|x| > M saturates)."""
    y = np.sign(x) * np.log(np.abs(x) * mu + 1.0) / np.log(m * mu + 1.0)
    return np.clip(y, -1.0, 1.0)


def inverse_mu_law(y: np.ndarray, mu: float = MU, m: float = M) -> np.ndarray:
    return np.sign(y) * ((m * mu + 1.0) ** np.abs(y) - 1.0) / mu


def to_bins(y: np.ndarray) -> np.ndarray:
    """[-1, 1] -> 0..1023, uniform bins; +1 itself falls in the last bin."""
    return np.clip(np.floor((y + 1.0) / 2.0 * N_BINS), 0, N_BINS - 1).astype(np.int64)


def bin_centres(b: np.ndarray) -> np.ndarray:
    return (b + 0.5) / N_BINS * 2.0 - 1.0


def continuous_tokens(x: np.ndarray, mu: bool | np.ndarray = True) -> np.ndarray:
    """Raw floats (flattened row-major) -> ids in [CONT_START, CONT_START + 1024).

    ``mu`` says, per value (broadcast over the flattened values), whether it is μ-law encoded
    first; a value without it must already lie in [-1, 1] (it is clipped there) and is binned
    uniformly: the paper's "μ-law encoded to the range [-1, 1] if not already there".
    """
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.isnan(flat).any():
        raise ValueError("a continuous value is NaN: it has no token")
    return to_bins(np.where(mu, mu_law(flat), np.clip(flat, -1.0, 1.0))) + CONT_START


def decode_continuous(ids: np.ndarray, mu: bool | np.ndarray = True) -> np.ndarray:
    """Ids of the continuous range -> the raw value at the centre of each bin (``mu`` as in
    ``continuous_tokens``)."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < CONT_START or ids.max() >= CONT_START + N_BINS):
        raise ValueError("ids outside the continuous range [1280, 2304)")
    y = bin_centres(ids - CONT_START)
    return np.where(mu, inverse_mu_law(y), y)


def discrete_tokens(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size and (v.min() < 0 or v.max() >= DISCRETE_SIZE):
        raise ValueError(f"discrete values must lie in [0, {DISCRETE_SIZE})")
    return v + DISCRETE_START


def text_tokens(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64) + TEXT_START


def records(ids: np.ndarray, local: np.ndarray, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Stack the four fields into [n, FIELDS] int64 token records."""
    return np.stack([ids, local, patch, mask], axis=1).astype(np.int64)


def text_records(text: str) -> np.ndarray:
    ids = text_tokens(text)
    n = len(ids)
    return records(ids, np.full(n, LOCAL_TEXT), np.full(n, -1), np.ones(n))


def timestep(
    obs_ids: np.ndarray, action_ids: np.ndarray, patch: np.ndarray | None = None
) -> np.ndarray:
    """One time step: [observation tokens] [SEP] [action tokens] as token records.

    Observation tokens carry local positions 2, 3, ... and no loss; the separator is not
    predicted either; every action token has the action position and counts in the loss.
    ``patch`` gives the patch index of image tokens (-1 elsewhere).
    """
    n_obs, n_act = len(obs_ids), len(action_ids)
    if n_obs > N_LOCAL - LOCAL_OBS:
        raise ValueError(f"an observation has at most {N_LOCAL - LOCAL_OBS} tokens")
    ids = np.concatenate([obs_ids, [SEP], action_ids])
    local = np.concatenate(
        [LOCAL_OBS + np.arange(n_obs), [LOCAL_TEXT], np.full(n_act, LOCAL_ACTION)]
    )
    patches = (
        np.full(len(ids), -1) if patch is None else np.concatenate([patch, np.full(n_act + 1, -1)])
    )
    mask = np.concatenate([np.zeros(n_obs + 1), np.ones(n_act)])
    return records(ids, local, patches, mask)


def image_patches(images: np.ndarray, patch: int, lo: float, hi: float) -> np.ndarray:
    """[n, H, W] images -> [n, (H/p)·(W/p), p, p] patches in raster order, pixels scaled to
    [-1, 1] and divided by √p (the paper's normalisation for its 16×16 patches)."""
    n, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not a whole number of {patch}x{patch} patches")
    x = (2.0 * (images - lo) / (hi - lo) - 1.0) / np.sqrt(patch)
    x = x.reshape(n, h // patch, patch, w // patch, patch).transpose(0, 1, 3, 2, 4)
    return x.reshape(n, -1, patch, patch).astype(np.float32)
