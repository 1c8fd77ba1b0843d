"""S2D: sorted fine-tuning of nested sub-networks and sorted speculative decoding (lossless)."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.generation import s2d
from hf_tokens.generation.dyspec import truncated_draft
from hf_tokens.generation.s2d.s2d import S2DConfig, default_depths
from hf_tokens.generation.s2d.soft import SortedFineTuningConfig, sorted_fine_tune, sorted_lm_loss, sub_network_logits
from hf_tokens.testing import tiny_model


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _ids(n: int, seed: int = 0, vocab: int = 320) -> torch.Tensor:
    return torch.randint(3, vocab, (1, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_sub_network_logits_equal_truncated_models(arch):
    model = tiny_model(arch, num_hidden_layers=4) if arch == "llama" else tiny_model(arch, n_layer=4)
    ids = _ids(10)
    with torch.no_grad():
        for depth, logits in zip((1, 3, 4), sub_network_logits(model, ids, (1, 3, 4))):
            ref = truncated_draft(model, depth)(input_ids=ids).logits
            torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-5)


def _lossless(model, ours: torch.Tensor, plain: torch.Tensor) -> None:
    """Identical, or diverging first on a near-tie of plain greedy (top-2 gap < 1e-4, DESIGN.md convention 7)."""
    if torch.equal(ours, plain):
        return
    assert ours.shape == plain.shape, (ours.shape, plain.shape)
    first = int((ours[0] != plain[0]).nonzero()[0])
    with torch.no_grad():
        top = model(input_ids=plain[:, :first]).logits[0, -1].topk(2).values
    assert float(top[0] - top[1]) < 1e-4, f"diverged at position {first} without a near-tie"


def _windows(n: int = 4, length: int = 16) -> torch.Tensor:
    # a repetitive, learnable sequence: every sub-network's loss must drop within a few steps
    base = torch.arange(length) % 7 + 10
    return base.repeat(n, 1)


def test_sorted_fine_tune_reduces_every_sub_network_loss():
    torch.manual_seed(0)
    model = tiny_model("llama", num_hidden_layers=4)
    cfg = SortedFineTuningConfig(depths=[1, 2, 4], learning_rate=3e-3, max_steps=8, batch_size=2, seq_len=16)
    windows = _windows()
    with torch.no_grad():
        _, before = sorted_lm_loss(model, windows, (1, 2, 4))
    report = sorted_fine_tune(model, None, cfg, windows=windows)
    with torch.no_grad():
        _, after = sorted_lm_loss(model, windows, (1, 2, 4))
    assert report["steps"] == 8 and report["depths"] == [1, 2, 4]
    for b, a in zip(before, after):
        assert a < 0.5 * b, (before, after)
    assert not model.training


def test_full_depth_only_with_lr_zero_leaves_model_unchanged():
    model = tiny_model("llama", num_hidden_layers=3)
    ids = _ids(8)
    with torch.no_grad():
        ref = model(input_ids=ids).logits.clone()
    cfg = SortedFineTuningConfig(depths=[3], learning_rate=0.0, max_steps=2, seq_len=16)
    sorted_fine_tune(model, None, cfg, windows=_windows())
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, ref)


def test_sorted_loss_is_weighted_mean_and_weights_shift_it():
    model = tiny_model("llama", num_hidden_layers=2)
    with torch.no_grad():
        mean, per = sorted_lm_loss(model, _windows(2), (1, 2))
        only_first, _ = sorted_lm_loss(model, _windows(2), (1, 2), (1.0, 0.0))
    assert abs(float(mean) - sum(per) / 2) < 1e-5
    assert abs(float(only_first) - per[0]) < 1e-5


@pytest.mark.parametrize(
    "thresholds", [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.9, 0.5, 0.2]], ids=["shallow", "stop", "mixed"]
)
@pytest.mark.parametrize("max_draft_tokens", [1, 5])
def test_greedy_output_equals_plain_greedy(thresholds, max_draft_tokens):
    model = tiny_model("llama", num_hidden_layers=4)
    draft = truncated_draft(model, 3)
    ids = _ids(9, seed=1)
    plain = model.generate(ids, max_new_tokens=24, do_sample=False)
    stats: dict = {}
    cfg = {"depths": [1, 2, 3], "thresholds": thresholds, "max_draft_tokens": max_draft_tokens}
    out = model.generate(
        ids, max_new_tokens=24, do_sample=False, custom_generate=s2d.generate, draft_model=draft,
        s2d_config=cfg, decoding_stats=stats,
    )  # fmt: skip
    _lossless(model, out, plain)
    shares = stats["exit_share"]
    assert abs(sum(shares) - 1.0) < 1e-9
    if thresholds[0] == 0.0:
        assert shares[0] == 1.0  # the smallest sub-network is always confident enough
    if thresholds == [1.0, 1.0, 1.0]:
        assert shares[2] == 1.0 and stats["mean_tree_nodes"] == 2.0  # unsure everywhere: one draft per step


def test_self_draft_full_depth_accepts_everything():
    model = tiny_model("llama", num_hidden_layers=2)
    stats: dict = {}
    out = s2d.generate(
        model, input_ids=_ids(6), max_new_tokens=16, s2d_config={"depths": [2], "thresholds": [0.0]},
        decoding_stats=stats,
    )  # fmt: skip
    assert out.shape[1] == 6 + 16
    assert stats["mean_accepted"] > 3.0  # the full model drafts its own greedy tokens


def test_sampling_runs_and_is_reproducible():
    model = tiny_model("llama", num_hidden_layers=3)
    ids = _ids(5)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(model.generate(ids, max_new_tokens=10, do_sample=True, custom_generate=s2d.generate))
    assert torch.equal(outs[0], outs[1])


def test_errors():
    model = tiny_model("llama", num_hidden_layers=3)
    ids = _ids(5)
    with pytest.raises(ValueError, match="depths must hold ints in \\[1, 3\\]"):
        s2d.generate(model, input_ids=ids, max_new_tokens=2, s2d_config={"depths": [1, 4]})
    with pytest.raises(ValueError, match="strictly increasing"):
        S2DConfig(depths=[2, 1])
    with pytest.raises(ValueError, match="one value per depth"):
        S2DConfig(depths=[1, 2], thresholds=[0.5])
    with pytest.raises(ValueError, match="thresholds must be numbers in \\[0, 1\\]"):
        S2DConfig(thresholds=[1.5])
    with pytest.raises(TypeError, match="s2d_config has no field"):
        s2d.generate(model, input_ids=ids, max_new_tokens=2, s2d_config={"depth": [1]})
    other = tiny_model("llama", num_hidden_layers=1, vocab_size=256)
    with pytest.raises(ValueError, match="vocabulary of 256 tokens"):
        s2d.generate(model, input_ids=ids, max_new_tokens=2, draft_model=other)
    with pytest.raises(ValueError, match="max_steps must be an int >= 1"):
        SortedFineTuningConfig(max_steps=0)
    with pytest.raises(ValueError, match="depths must hold ints in \\[1, 3\\]"):
        sorted_fine_tune(model, None, SortedFineTuningConfig(depths=[5]), windows=_windows())


def test_default_depths():
    assert default_depths(30) == (10, 20, 30)
    assert default_depths(2) == (1, 2)
    assert default_depths(1) == (1,)


def test_sorted_model_saves_for_hub_with_card(tmp_path):
    from transformers import AutoModelForCausalLM

    from hf_tokens.hub import save_for_hub

    model = tiny_model("llama", num_hidden_layers=2)
    cfg = SortedFineTuningConfig(depths=[1, 2], max_steps=1, seq_len=16)
    sorted_fine_tune(model, None, cfg, windows=_windows())
    folder = save_for_hub(model, tmp_path / "soft", method_id="s2d", kind="model", config=cfg)
    assert "2407.01955" in (folder / "README.md").read_text()
    again = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = _ids(6)
    with torch.no_grad():
        assert torch.equal(again(input_ids=ids).logits, model(input_ids=ids).logits)
