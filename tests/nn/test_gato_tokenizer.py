"""Gato's tokenizer, model embeddings and masked loss: exact checks.

.venv/bin/pytest tests/nn/test_gato_tokenizer.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from topiclab.nn import gato_tokenizer as gt
from topiclab.nn.gato import GatoModel
from topiclab.nn.gato_trainer import masked_loss
from topiclab.nn.llama import ModelArgs, Transformer

torch.set_num_threads(1)


def test_mu_law_constants() -> None:
    f = gt.mu_law(np.array([1.0, 0.5, 256.0, -256.0, 1e6]))
    assert f[:2] == pytest.approx([0.4547, 0.3874], abs=1e-4)
    assert list(f[2:]) == [1.0, -1.0, 1.0]
    x = np.linspace(-256, 256, 10_001)
    assert np.allclose(gt.inverse_mu_law(gt.mu_law(x)), x, atol=1e-9)


def test_round_trip_within_half_a_bin_and_raw_error() -> None:
    x = np.concatenate([np.linspace(-1000, 1000, 400_001), np.linspace(-1, 1, 400_001)])
    ids = gt.continuous_tokens(x)
    enc = gt.bin_centres(ids - gt.CONT_START)
    assert np.abs(enc - gt.mu_law(x)).max() <= gt.HALF_BIN + 1e-12
    small = np.abs(x) <= 1
    raw = np.abs(gt.decode_continuous(ids[small]) - x[small])
    assert 0.0095 < raw.max() < 0.0100  # ≈ 0.0099 at |x| near 1
    tiny = np.abs(x) <= 0.01
    assert np.abs(gt.decode_continuous(ids[tiny]) - x[tiny]).max() < 2.5e-4


def test_values_already_in_unit_range_skip_mu_law_uniform_bins() -> None:
    """Reed et al.: μ-law "if not already" in [-1, 1]; uniform bins then err by ≤ half a bin
    (1/1024 in raw units), a value outside is clipped to the end bins, ids stay in range."""
    x = np.linspace(-1, 1, 400_001)
    ids = gt.continuous_tokens(x, mu=False)
    assert np.abs(gt.decode_continuous(ids, mu=False) - x).max() <= gt.HALF_BIN + 1e-12
    assert ids.min() == gt.CONT_START and ids.max() == gt.CONT_START + gt.N_BINS - 1
    ends = gt.continuous_tokens(np.array([-5.0, 5.0]), mu=False)
    assert ends.tolist() == [gt.CONT_START, gt.CONT_START + gt.N_BINS - 1]
    mixed = gt.continuous_tokens(np.array([0.5, 0.5]), mu=np.array([False, True]))
    assert mixed.tolist() == [
        gt.continuous_tokens(np.array([0.5]), mu=False)[0],
        gt.continuous_tokens(np.array([0.5]))[0],
    ]
    assert mixed[0] - gt.CONT_START == int((0.5 + 1) / 2 * gt.N_BINS)  # bin 768 of 1024


def test_ids_stay_in_their_ranges() -> None:
    x = np.array([-np.inf, -1e300, -256.0, -1.0, 0.0, 1.0, 256.0, 1e300, np.inf])
    ids = gt.continuous_tokens(x)
    assert ids.min() == gt.CONT_START and ids.max() == gt.CONT_START + gt.N_BINS - 1
    with pytest.raises(ValueError, match="NaN"):
        gt.continuous_tokens(np.array([np.nan]))
    assert list(gt.discrete_tokens([0, 1023])) == [gt.DISCRETE_START, gt.DISCRETE_START + 1023]
    with pytest.raises(ValueError):
        gt.discrete_tokens([1024])
    with pytest.raises(ValueError):
        gt.decode_continuous(np.array([gt.CONT_START - 1]))
    text = gt.text_tokens("héllo\x00")
    assert text.min() >= 0 and text.max() < gt.TEXT_SIZE


def test_id_ranges_are_disjoint_and_fill_the_vocabulary() -> None:
    spans = [
        range(gt.TEXT_START, gt.TEXT_START + gt.TEXT_SIZE),
        range(gt.DISCRETE_START, gt.DISCRETE_START + gt.DISCRETE_SIZE),
        range(gt.CONT_START, gt.CONT_START + gt.N_BINS),
        range(gt.SEP, gt.SEP + 1),
        range(gt.IMAGE, gt.IMAGE + 1),
        range(gt.PAD, gt.PAD + 1),
    ]
    ids = [i for s in spans for i in s]
    assert len(ids) == len(set(ids)) == gt.VOCAB_SIZE and max(ids) == gt.VOCAB_SIZE - 1


def test_timestep_layout_continuous_obs_discrete_action() -> None:
    """CartPole: 4 μ-law observation tokens | SEP | 1 discrete action; loss on the action."""
    rec = gt.timestep(gt.continuous_tokens(np.zeros(4)), gt.discrete_tokens([1]))
    mid = gt.CONT_START + gt.N_BINS // 2  # 0 falls in the bin just above the centre
    assert rec.tolist() == [
        [mid, 2, -1, 0],
        [mid, 3, -1, 0],
        [mid, 4, -1, 0],
        [mid, 5, -1, 0],
        [gt.SEP, 0, -1, 0],
        [gt.DISCRETE_START + 1, 1, -1, 1],
    ]


def test_timestep_layout_discrete_obs_and_continuous_action() -> None:
    grid = gt.timestep(gt.discrete_tokens([7]), gt.discrete_tokens([3]))
    assert grid.tolist() == [[263, 2, -1, 0], [gt.SEP, 0, -1, 0], [259, 1, -1, 1]]
    pend = gt.timestep(gt.continuous_tokens([1.0, 0.0, -8.0]), gt.continuous_tokens([-1.0, 1.0]))
    assert pend[:, 1].tolist() == [2, 3, 4, 0, 1, 1] and pend[:, 3].tolist() == [0, 0, 0, 0, 1, 1]
    assert pend[4, 0] < pend[5, 0]  # -1 below +1 in the continuous range


def test_timestep_layout_image_and_text() -> None:
    """Digits: 4 patches (local positions 2..5, patch indices) | SEP | the label as text."""
    rec = gt.timestep(np.full(4, gt.IMAGE), gt.text_tokens("7"), np.arange(8, 12))
    assert rec.tolist() == [
        [gt.IMAGE, 2, 8, 0],
        [gt.IMAGE, 3, 9, 0],
        [gt.IMAGE, 4, 10, 0],
        [gt.IMAGE, 5, 11, 0],
        [gt.SEP, 0, -1, 0],
        [ord("7"), 1, -1, 1],
    ]
    text = gt.text_records("ab")
    assert text.tolist() == [[97, 0, -1, 1], [98, 0, -1, 1]]


def test_image_patches_raster_order_and_normalisation() -> None:
    img = np.arange(64, dtype=np.float64).reshape(1, 8, 8)
    p = gt.image_patches(img, 4, 0.0, 63.0)
    assert p.shape == (1, 4, 4, 4)
    assert p[0, 0, 0, 0] == pytest.approx(-1 / 2) and p[0, 3, 3, 3] == pytest.approx(1 / 2)
    assert p[0, 1, 0, 0] == pytest.approx((2 * 4 / 63 - 1) / 2)  # top-right patch starts at x=4
    with pytest.raises(ValueError):
        gt.image_patches(np.zeros((1, 6, 8)), 4, 0, 1)


def test_masked_positions_contribute_exactly_zero() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g, requires_grad=True)
    targets = torch.randint(0, 11, (2, 5), generator=g)
    mask = torch.tensor([[0, 1, 0, 1, 1], [1, 0, 0, 0, 1]])
    loss = masked_loss(logits, targets, mask)
    scrambled = torch.where(mask.bool(), targets, (targets + 5) % 11)
    assert torch.equal(loss, masked_loss(logits, scrambled, mask))  # bit-identical
    loss.backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[~mask.bool()] == 0)
    assert torch.all(logits.grad[mask.bool()].abs().sum(-1) > 0)


def test_model_uses_patch_pixels_causally() -> None:
    torch.manual_seed(0)
    model = GatoModel(
        Transformer(
            ModelArgs(
                dim=16,
                n_layers=1,
                n_heads=2,
                vocab_size=gt.VOCAB_SIZE,
                multiple_of=8,
                max_seq_len=16,
            )
        )
    ).eval()
    model.set_images(torch.randn(4, 4, 4))
    rec = np.concatenate(
        [
            gt.text_records("ab"),
            gt.timestep(np.full(4, gt.IMAGE), gt.text_tokens("1"), np.arange(4)),
        ]
    )
    x = torch.from_numpy(rec[None, :, :3])
    before = model(x)
    model.images[2] += 1.0  # the third patch, at sequence position 2 + 2 = 4
    after = model(x)
    assert torch.equal(before[:, :4], after[:, :4]) and not torch.allclose(
        before[:, 4:], after[:, 4:]
    )


def test_continuous_bin_rows_start_smooth_in_the_bin_value() -> None:
    """Neighbouring bins start with nearly equal input and output rows, distant bins with
    unrelated ones; the other rows keep the plain N(0, 0.02²) initialisation."""
    torch.manual_seed(0)
    args = ModelArgs(dim=64, n_layers=1, n_heads=2, vocab_size=gt.VOCAB_SIZE, multiple_of=8)
    model = GatoModel(Transformer(args))
    cos = torch.nn.functional.cosine_similarity
    for table in (model.llama.tok_embeddings.weight, model.llama.output.weight):
        rows = table[gt.CONT_START : gt.CONT_START + gt.N_BINS].detach()
        assert float(cos(rows[:-1], rows[1:], dim=1).min()) > 0.95
        assert float(cos(rows[100], rows[600], dim=0).abs()) < 0.5
        assert 0.015 < float(rows.std()) < 0.025
        text = table[: gt.TEXT_SIZE].detach()
        assert float(cos(text[:-1], text[1:], dim=1).abs().max()) < 0.6


@pytest.mark.parametrize("hide", [True, False])
def test_hidden_continuous_actions_do_not_reach_the_model(hide: bool) -> None:
    """With ``hide_continuous_actions`` a continuous action's id does not change any logit
    (its slot does: the observations after it still move them); a discrete one always does."""
    torch.manual_seed(0)
    args = ModelArgs(dim=16, n_layers=1, n_heads=2, vocab_size=gt.VOCAB_SIZE, multiple_of=8)
    model = GatoModel(Transformer(args), hide_continuous_actions=hide).eval()
    obs = gt.continuous_tokens(np.array([0.5, -0.5]), False)

    def logits(cont: float, disc: int) -> torch.Tensor:
        steps = [
            gt.timestep(obs, gt.continuous_tokens(np.array([cont]), False)),
            gt.timestep(obs, gt.discrete_tokens(np.array([disc]))),
            gt.timestep(obs, np.zeros(0, dtype=np.int64)),
        ]
        return model(torch.from_numpy(np.concatenate(steps)[None, :, :3]))

    base = logits(0.9, 1)
    assert torch.equal(base, logits(-0.9, 1)) == hide
    assert not torch.allclose(base[:, 4:], logits(0.9, 2)[:, 4:])


def test_value_features_add_a_direction_scaled_by_the_bin_value() -> None:
    """With ``value_features`` a continuous token's embedding is its row plus w·y (y its bin
    centre in [-1, 1]): opposite bins get opposite features; other ids get none."""
    torch.manual_seed(0)
    args = ModelArgs(dim=16, n_layers=1, n_heads=2, vocab_size=gt.VOCAB_SIZE, multiple_of=8)
    model = GatoModel(Transformer(args), value_features=True)
    cont = gt.continuous_tokens(np.array([-1.0, 1.0]))  # μ-law: bins 1023 - b and b
    ids = torch.tensor([[*cont, 65, gt.DISCRETE_START]])
    feat = model.value_feature(ids)[0].detach()
    assert model.value is not None
    y = float(gt.bin_centres(cont[0] - gt.CONT_START))
    assert torch.allclose(feat[0], model.value.weight[:, 0].detach() * y, atol=1e-6)
    assert torch.allclose(feat[1], -feat[0], atol=1e-6)
    assert torch.equal(feat[2:], torch.zeros(2, 16))
    x = torch.stack([ids, torch.full_like(ids, gt.LOCAL_OBS), torch.full_like(ids, -1)], -1)
    rows = model.llama.tok_embeddings(ids) + model.local(x[..., 1])
    assert torch.allclose(model.embed(x), rows + feat)
    plain = GatoModel(Transformer(args))
    assert plain.value is None
