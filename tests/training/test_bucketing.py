"""Length-bucketed passage encoding: the same embeddings and gradients as one padded batch, less padding."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.training.bucketing import bucket_plan, encode_bucketed, padding_fraction

WORDS = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
    "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
]


@given(st.lists(st.integers(1, 512), min_size=1, max_size=200), st.integers(1, 64))
def test_plan_covers_every_row_once_in_length_order(lengths, chunk_size):
    order, chunks = bucket_plan(torch.tensor(lengths), chunk_size)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    ordered = [lengths[i] for i in order.tolist()]
    assert ordered == sorted(lengths)
    assert [c[0] for c in chunks] == list(range(0, len(lengths), chunk_size))
    assert chunks[-1][1] == len(lengths)
    for start, stop, width in chunks:
        assert width == max(ordered[start:stop])


@given(st.lists(st.integers(1, 128), min_size=1, max_size=128), st.integers(1, 32))
def test_sorted_chunks_never_pad_more_than_one_batch(lengths, chunk_size):
    assert 0.0 <= padding_fraction(lengths, chunk_size) <= padding_fraction(lengths, None) + 1e-12


def test_plan_rejects_a_chunk_size_below_one():
    with pytest.raises(ValueError, match="chunk_size"):
        bucket_plan(torch.tensor([3, 1]), 0)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    model.max_seq_length = 64
    return model


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 50))) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1])
def test_embeddings_and_gradients_match_one_padded_batch(minilm, seed):
    """The reference is the plain padded forward (what the trainer did before), in fp32."""
    texts = _texts(37, seed)  # 37: the last chunk is short
    features = minilm.preprocess(texts)
    minilm.eval()  # dropout off: both passes must see the same network
    reference = minilm(dict(features))["sentence_embedding"]
    weights = torch.randn(reference.shape, generator=torch.Generator().manual_seed(seed))
    (reference * weights).sum().backward()
    grads_ref = {n: p.grad.clone() for n, p in minilm.named_parameters() if p.grad is not None}
    minilm.zero_grad(set_to_none=True)

    bucketed = encode_bucketed(minilm, dict(features), chunk_size=8)
    (bucketed * weights).sum().backward()
    assert bucketed.shape == reference.shape
    assert torch.allclose(bucketed, reference, atol=2e-5, rtol=0), (bucketed - reference).abs().max()
    for name, grad in grads_ref.items():
        other = dict(minilm.named_parameters())[name].grad
        assert torch.allclose(other, grad, atol=1e-4, rtol=1e-3), name
    minilm.zero_grad(set_to_none=True)


def test_few_texts_or_no_mask_take_the_plain_path():
    calls = []

    class Recorder(torch.nn.Module):
        def forward(self, features):
            calls.append(features["input_ids"].shape)
            return {"sentence_embedding": features["input_ids"].float()}

    ids = torch.arange(12).view(6, 2)
    out = encode_bucketed(Recorder(), {"input_ids": ids, "offsets": torch.zeros(6)}, chunk_size=2)
    assert calls == [ids.shape] and torch.equal(out, ids.float())
    calls.clear()
    mask = torch.ones(3, 2, dtype=torch.long)
    encode_bucketed(Recorder(), {"input_ids": ids[:3], "attention_mask": mask}, chunk_size=4)
    assert calls == [(3, 2)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=40), st.integers(1, 8), st.sampled_from(["right", "left"]))
def test_rows_come_back_in_their_order_with_their_own_tokens(lengths, chunk_size, side):
    """A model that reads each row's real tokens: every row's output must be its own, whatever the chunking."""
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        cols = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, cols] = torch.arange(1, n + 1) + 100 * row
        mask[row, cols] = 1

    class SumOfTokens(torch.nn.Module):
        def forward(self, features):
            assert features["input_ids"].shape[1] <= width
            return {"sentence_embedding": (features["input_ids"] * features["attention_mask"]).sum(1, keepdim=True)}

    out = encode_bucketed(SumOfTokens(), {"input_ids": ids, "attention_mask": mask}, chunk_size, side)
    assert out.squeeze(1).tolist() == (ids * mask).sum(1).tolist()
