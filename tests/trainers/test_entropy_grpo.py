"""Entropy-aware GRPO: token masks on hand-made tensors, global (multi-process) selection, gradients through TRL's
loss, config validation, a two-step end-to-end run on a tiny model, the forking-token report."""

from __future__ import annotations

import dataclasses
import json
import threading
import warnings
from types import SimpleNamespace

import pytest
import torch

from hf_tokens.trainers.entropy_grpo.loss import (
    LocalGroup,
    aggregate_token_loss,
    clip_cov_mask,
    entropy_quantile_mask,
    kl_cov_mask,
    kl_cov_penalty,
    ppo_clipped,
    token_covariance,
)

pytest.importorskip("trl")
from trl import GRPOTrainer

from hf_tokens._compat import no_checkpointing
from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer

# ---- pure functions on hand-made tensors ---------------------------------------------------------------------------

ENT = torch.tensor([[5.0, 1.0, 3.0, 9.0], [2.0, 4.0, 0.5, 6.0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])  # 7 valid tokens, the 9.0 is padding


def test_entropy_mask_selects_exactly_the_top_tokens():
    # valid entropies sorted: 0.5 1 2 3 4 5 6 -> the 1 - 2/7 quantile lies between 4 and 5 -> keeps 5 and 6
    top = entropy_quantile_mask(ENT, MASK, 2 / 7)
    assert top.tolist() == [[True, False, False, False], [False, False, False, True]]
    bottom = entropy_quantile_mask(ENT, MASK, 2 / 7, complement=True)
    assert bottom.tolist() == [[False, True, True, False], [True, True, True, False]]
    assert not (top & bottom).any() and ((top | bottom) == MASK.bool()).all()  # a partition of the valid tokens
    assert entropy_quantile_mask(ENT, MASK, 1.0).tolist() == MASK.bool().tolist()  # ρ = 1 keeps every valid token


def test_entropy_mask_agrees_with_trl_get_high_entropy_mask():
    from accelerate import Accelerator

    fake_trainer = SimpleNamespace(accelerator=Accelerator(cpu=True))
    gen = torch.Generator().manual_seed(0)
    for ratio in (0.05, 0.2, 0.5, 0.8):
        ent = torch.rand(6, 11, generator=gen) * 4
        mask = (torch.rand(6, 11, generator=gen) > 0.25).long()
        ours = entropy_quantile_mask(ent, mask, ratio)
        trl_mask = GRPOTrainer.get_high_entropy_mask(fake_trainer, ent, mask, 1 - ratio)
        assert torch.equal(ours, trl_mask), ratio
        assert abs(ours.sum().item() / mask.sum().item() - ratio) < 0.05


def test_covariance_is_centred_over_the_batch():
    logps = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -4.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([1.0, -1.0])
    cov = token_covariance(logps, adv, mask)
    valid = mask.bool()
    a = adv.unsqueeze(1).expand_as(logps)
    expected = (a - a[valid].mean()) * (logps - logps[valid].mean())
    assert torch.allclose(cov[valid], expected[valid]) and cov[1, 2] == 0
    assert torch.allclose(cov[valid].mean(), torch.tensor(0.0), atol=0.5)  # centred terms, mean = covariance


def test_clip_cov_draws_only_candidates_in_the_band():
    cov = torch.tensor([[0.5, 2.0, 3.0, 7.0, 1.5], [4.9, 1.0, 5.0, -2.0, 2.5]])
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[1, 4] = 0  # padding: excluded even though its covariance is in the band
    band = (cov > 1) & (cov < 5) & mask.bool()  # strict bounds: 1.0 and 5.0 are out
    for seed in range(20):
        sel = clip_cov_mask(cov, mask, ratio=0.2, low=1.0, high=5.0, generator=torch.Generator().manual_seed(seed))
        assert sel.sum() == 1  # max(1, int(0.2 * 9)) = 1
        assert (sel & ~band).sum() == 0
    every = clip_cov_mask(cov, mask, ratio=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(every, band)  # ratio 1 takes every candidate
    exclude = torch.zeros(2, 5, dtype=torch.bool)
    exclude[0, 1] = True
    sel = clip_cov_mask(cov, mask, ratio=1.0, exclude=exclude, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sel, band & ~exclude)


def test_kl_cov_selects_the_top_covariance_tokens():
    cov = torch.tensor([[0.5, 2.0, 3.0, 7.0], [4.9, 1.0, 9.0, -2.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 1]])  # the 9.0 is padding
    sel = kl_cov_mask(cov, mask, ratio=2 / 7)  # k = 2 of 7 valid tokens -> 7.0 and 4.9
    assert sel.tolist() == [[False, False, False, True], [True, False, False, False]]
    assert kl_cov_mask(cov, mask, ratio=1e-4).sum() == 1  # at least one token, as in the paper's code


def test_kl_cov_penalty_gradient_only_on_selected_tokens():
    logps = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    old = torch.tensor([[-1.5, -1.0, -3.0]])
    selected = torch.tensor([[True, True, False]])
    kl_cov_penalty(logps, old, selected, coef=2.0).sum().backward()
    assert logps.grad.tolist() == [[2.0, -2.0, 0.0]]  # coef * sign(logp - old), zero where not selected
    on_policy = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    kl_cov_penalty(on_policy, on_policy.detach(), torch.ones(1, 2, dtype=torch.bool)).sum().backward()
    assert on_policy.grad.abs().sum() == 0  # on-policy KL-Cov is a no-op


def test_ppo_clipped_marks_tokens_outside_the_trust_region():
    logps = torch.tensor([[0.0, 0.5, -0.5, 0.5]])
    old = torch.zeros(1, 4)
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    # ratio e^0.5 > 1.2 with A > 0 is clipped; e^-0.5 < 0.8 with A < 0 is clipped; e^0.5 with A < 0 is not
    assert ppo_clipped(logps, old, adv, 0.2, 0.2).tolist() == [[False, True, True, False]]


def test_aggregate_matches_hand_computation():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert aggregate_token_loss(per_token, mask, "grpo").item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate_token_loss(per_token, mask, "bnpo").item() == pytest.approx(10.0 / 4)
    assert aggregate_token_loss(per_token, mask, "dr_grpo", max_completion_length=5).item() == pytest.approx(1.0)
    assert aggregate_token_loss(per_token, mask, "dapo", num_items=8.0).item() == pytest.approx(10.0 / 8)
    with pytest.raises(ValueError, match="loss_type"):
        aggregate_token_loss(per_token, mask, "ppo")


@pytest.mark.parametrize(
    "call",
    [
        lambda: entropy_quantile_mask(ENT, MASK, 0.0),
        lambda: entropy_quantile_mask(ENT, MASK[:, :3], 0.2),
        lambda: clip_cov_mask(ENT, MASK, ratio=0.1, low=5.0, high=1.0),
        lambda: kl_cov_mask(ENT, MASK, ratio=-0.1),
        lambda: kl_cov_penalty(ENT, ENT, MASK.bool(), coef=-1.0),
    ],
)
def test_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


# ---- global selection: two simulated processes equal one -----------------------------------------------------------


class _ThreadGroup:
    """all_gather between threads (one per simulated rank), as accelerate's gather does between processes."""

    def __init__(self, rank: int, slots: list, barrier: threading.Barrier):
        self.rank, self.slots, self.barrier = rank, slots, barrier

    def all_gather(self, tensor):
        self.slots[self.rank] = tensor.clone()
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


def _run_two_ranks(fn, halves):
    slots, barrier, results, errors = [None, None], threading.Barrier(2), [None, None], []

    def work(rank):
        try:
            results[rank] = fn(halves[rank], _ThreadGroup(rank, slots, barrier))
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return torch.cat(results)


def test_global_selection_equals_single_process_when_batch_is_split():
    gen = torch.Generator().manual_seed(3)
    logps = -torch.rand(8, 12, generator=gen) * 3
    ent = torch.rand(8, 12, generator=gen) * 3
    adv = torch.randn(8, generator=gen) * 2
    mask = (torch.rand(8, 12, generator=gen) > 0.2).long()
    mask[:4, 9:] = 0  # rank 0 has fewer valid tokens than rank 1
    data = {"logps": logps, "ent": ent, "adv": adv, "mask": mask}
    halves = [{k: v[:4] for k, v in data.items()}, {k: v[4:] for k, v in data.items()}]

    def selections(d, group):
        cov = token_covariance(d["logps"], d["adv"], d["mask"], group=group)
        return torch.stack(
            [
                cov,
                entropy_quantile_mask(d["ent"], d["mask"], 0.2, group=group).float(),
                entropy_quantile_mask(d["ent"], d["mask"], 0.2, complement=True, group=group).float(),
                kl_cov_mask(cov, d["mask"], ratio=0.05, group=group).float(),
                clip_cov_mask(
                    cov,
                    d["mask"],
                    ratio=0.05,
                    low=0.2,
                    high=5.0,
                    generator=torch.Generator().manual_seed(7),
                    group=group,
                ).float(),
            ],
            dim=1,
        )

    single = selections(data, LocalGroup())
    split = _run_two_ranks(selections, halves)
    assert torch.allclose(single[:, 0], split[:, 0], atol=1e-6)  # covariance centred on the global means
    assert torch.equal(single[:, 1:], split[:, 1:])  # identical masks, top-k and random Clip-Cov pick
    assert single[:, 3].sum() == max(1, int(0.05 * mask.sum()))
    assert single[:, 4].sum() > 0
    # a per-device top-k (the verl behaviour) would pick a different set here
    per_device = torch.cat([selections(h, LocalGroup())[:, 3] for h in halves])
    assert not torch.equal(per_device, single[:, 3])


def test_accelerate_group_two_real_processes_equal_one(tmp_path):
    """Two gloo processes under accelerate select exactly what one process selects on the whole batch."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("_two_process_worker.py")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run([sys.executable, str(worker), str(port), str(tmp_path)], check=True, timeout=300)
    split = torch.cat([torch.load(tmp_path / f"r{r}.pt") for r in range(2)], dim=1)
    sys.path.insert(0, str(worker.parent))
    try:
        import _two_process_worker as w
    finally:
        sys.path.remove(str(worker.parent))
    single = w.selections(w.batch(), LocalGroup())
    assert torch.allclose(single[0], split[0], atol=1e-6)
    assert torch.equal(single[1:], split[1:])
    assert single[3].sum() > 0


# ---- config validation --------------------------------------------------------------------------------------------

BASE = {"output_dir": "unused", "bf16": False, "report_to": "none"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_entropy_ratio": 0.0},
        {"top_entropy_ratio": -0.2},
        {"top_entropy_ratio": 1.01},
        {"top_entropy_ratio": 0.2, "top_entropy_quantile": 0.3},
        {"entropy_mask_complement": True},
        {"cov_penalty": "clipcov"},
        {"clip_cov_ratio": -2e-4},
        {"clip_cov_ratio": 0.0},
        {"kl_cov_ratio": -2e-4},
        {"clip_cov_low": 5.0, "clip_cov_high": 1.0},
        {"clip_cov_low": 2.0, "clip_cov_high": 2.0},
        {"kl_cov_coef": -1.0},
        {"logprob_impl": "fast"},
    ],
)
def test_bad_config_raises_at_construction(kwargs):
    with pytest.raises(ValueError):
        EntropyGRPOConfig(**BASE, **kwargs)


def test_config_ratio_aliases_trl_quantile_and_round_trips():
    cfg = EntropyGRPOConfig(**BASE, top_entropy_ratio=0.2, entropy_mask_complement=True)
    assert cfg.top_entropy_quantile == 0.2
    assert EntropyGRPOConfig(**BASE, top_entropy_quantile=0.3).top_entropy_ratio == 0.3
    data = json.loads(cfg.to_json_string())
    init = {f.name for f in dataclasses.fields(EntropyGRPOConfig) if f.init}
    data = {k: v for k, v in data.items() if k in init}
    again = EntropyGRPOConfig(**data)
    assert again.top_entropy_ratio == 0.2 and again.entropy_mask_complement


def test_kl_cov_on_policy_warns():
    with pytest.warns(UserWarning, match="on-policy"):
        EntropyGRPOConfig(**BASE, cov_penalty="kl_cov")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EntropyGRPOConfig(**BASE, cov_penalty="kl_cov", num_iterations=2)


# ---- gradients through TRL's loss -----------------------------------------------------------------------------------

B, T = 4, 6


def _reward(completions, **_):
    return [float(len(set(c))) for c in completions]


def _trainer(tmp_path, **kwargs):
    from datasets import Dataset

    from hf_tokens.testing import tiny_model, tiny_tokenizer

    args = EntropyGRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=T,
        bf16=False,
        **no_checkpointing(),
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logprob_impl=kwargs.pop("logprob_impl", "trl"),
        **kwargs,
    )
    dataset = Dataset.from_dict({"prompt": ["The quick brown", "Hello world", "import torch", "for i in"] * 2})
    trainer = EntropyGRPOTrainer(
        tiny_model("llama"),
        reward_funcs=[_reward],
        args=args,
        train_dataset=dataset,
        processing_class=tiny_tokenizer(),
    )
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()
    return trainer


def _inputs(seed: int = 0, off_policy: bool = False):
    gen = torch.Generator().manual_seed(seed)
    completion_mask = torch.ones(B, T, dtype=torch.long)
    completion_mask[0, 4:] = 0
    completion_mask[2, 5:] = 0
    logps = -torch.rand(B, T, generator=gen) * 4
    inputs = {
        "prompt_ids": torch.randint(2, 300, (B, 3), generator=gen),
        "prompt_mask": torch.ones(B, 3, dtype=torch.long),
        "completion_ids": torch.randint(2, 300, (B, T), generator=gen),
        "completion_mask": completion_mask,
        "advantages": torch.tensor([3.0, -1.0, 2.0, -4.0]),
        "num_items_in_batch": completion_mask.sum().float(),
    }
    if off_policy:
        inputs["old_per_token_logps"] = logps + 0.05 * torch.randn(B, T, generator=gen)
    return inputs, logps, torch.rand(B, T, generator=gen) * 3


def _grads(trainer, inputs, logps, entropies, plain: bool, monkeypatch):
    """d loss / d per-token log-prob, through TRL's _compute_loss (plain=True: TRL's own GRPO loss)."""
    leaf = logps.clone().requires_grad_(True)
    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", lambda *a, **k: (leaf, entropies, None))
    if plain:
        saved, trainer.top_entropy_quantile = trainer.top_entropy_quantile, 1.0
        try:
            loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
        finally:
            trainer.top_entropy_quantile = saved
    else:
        loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    return leaf.grad


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory):
    return tmp_path_factory.mktemp("entropy_grpo")


@pytest.mark.parametrize("complement", [False, True])
def test_entropy_mask_gradient_zero_on_masked_and_plain_on_the_rest(tmp_module, monkeypatch, complement):
    trainer = _trainer(tmp_module, top_entropy_ratio=0.25, entropy_mask_complement=complement)
    inputs, logps, ent = _inputs()
    keep = entropy_quantile_mask(ent, inputs["completion_mask"], 0.25, complement=complement)
    ours = _grads(trainer, inputs, logps, ent, False, monkeypatch)
    plain = _grads(trainer, inputs, logps, ent, True, monkeypatch)
    assert (ours[~keep] == 0).all()
    assert torch.allclose(ours[keep], plain[keep])
    assert (plain[keep] != 0).all() and (plain[~keep & inputs["completion_mask"].bool()] != 0).all()
    metrics = trainer._metrics["train"]
    assert metrics["entropy_grpo/updated_frac"][-1] == pytest.approx(
        keep.sum().item() / inputs["completion_mask"].sum()
    )
    assert metrics["entropy_grpo/entropy_kept"][-1] == pytest.approx(ent[keep].mean().item(), rel=1e-5)


def test_clip_cov_changes_gradient_only_on_selected_tokens(tmp_module, monkeypatch):
    trainer = _trainer(tmp_module, cov_penalty="clip_cov", clip_cov_ratio=0.1, clip_cov_low=0.5, clip_cov_high=5.0)
    inputs, logps, ent = _inputs(1)
    mask = inputs["completion_mask"].bool()
    cov = token_covariance(logps, inputs["advantages"], mask)
    ours = _grads(trainer, inputs, logps, ent, False, monkeypatch)
    plain = _grads(trainer, inputs, logps, ent, True, monkeypatch)
    changed = ours != plain
    assert changed.sum() == max(1, int(0.1 * mask.sum()))  # exactly the drawn tokens
    assert (ours[changed] == 0).all()  # whose gradient is detached
    assert ((cov[changed] > 0.5) & (cov[changed] < 5.0)).all()  # and which lie in the covariance band
    assert trainer._metrics["train"]["clip_cov/frac"][-1] == pytest.approx(changed.sum().item() / mask.sum().item())


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo"])
def test_kl_cov_changes_gradient_only_on_top_covariance_tokens(tmp_module, monkeypatch, loss_type):
    trainer = _trainer(tmp_module, cov_penalty="kl_cov", kl_cov_ratio=0.15, num_iterations=2, loss_type=loss_type)
    inputs, logps, ent = _inputs(2, off_policy=True)
    mask = inputs["completion_mask"]
    selected = kl_cov_mask(token_covariance(logps, inputs["advantages"], mask), mask, ratio=0.15)
    ours = _grads(trainer, inputs, logps, ent, False, monkeypatch)
    plain = _grads(trainer, inputs, logps, ent, True, monkeypatch)
    changed = ~torch.isclose(ours, plain, atol=1e-7)
    assert torch.equal(changed, selected)
    expected = torch.sign(logps - inputs["old_per_token_logps"]) * selected
    if loss_type == "grpo":
        expected = expected / mask.sum(-1, keepdim=True) / B
    else:
        expected = expected / mask.sum()
    assert torch.allclose(ours - plain, expected, atol=1e-6)


# ---- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_entropy_ratio": 0.2},
        {"cov_penalty": "clip_cov", "clip_cov_low": 0.0},
        {"cov_penalty": "kl_cov", "num_iterations": 2, "top_entropy_ratio": 0.5, "entropy_mask_complement": True},
        {"top_entropy_ratio": 0.2, "logprob_impl": "auto"},
    ],
)
def test_two_step_training_run(tmp_path, kwargs):
    trainer = _trainer(tmp_path, max_steps=2, logging_steps=1, learning_rate=1e-2, **kwargs)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    logs = [h for h in trainer.state.log_history if "entropy_grpo/updated_frac" in h]
    assert len(logs) == 2
    for h in logs:
        assert 0 < h["entropy_grpo/updated_frac"] <= 1 and h["entropy"] > 0 and "cov/mean" in h
    if kwargs.get("top_entropy_ratio") == 0.2:
        assert all(h["entropy_grpo/updated_frac"] < 0.5 for h in logs)
        assert all(h["entropy_grpo/entropy_kept"] >= h["entropy_grpo/entropy_dropped"] for h in logs)
    if kwargs.get("cov_penalty") == "kl_cov":
        assert all(h["kl_cov/frac"] > 0 for h in logs)
    moved = any(not torch.equal(p, before[n]) for n, p in trainer.model.named_parameters())
    assert moved  # the reward has spread, so some step updated the model


def test_save_for_hub_writes_card_with_paper_and_config(tmp_path):
    trainer = _trainer(tmp_path, top_entropy_ratio=0.2)
    folder = trainer.save_for_hub(tmp_path / "card")
    card = (folder / "README.md").read_text()
    assert "2506.01939" in card and "top_entropy_ratio" in card
    meta = json.loads((folder / "hf_tokens.json").read_text())
    assert meta["method"] == "high-entropy-minority" and meta["config"]["top_entropy_ratio"] == 0.2


# ---- hf_tokens linear ops path ------------------------------------------------------------------------------------


def test_linear_ops_path_matches_trl_path(tmp_module):
    pytest.importorskip("hf_tokens.ops.linear_cross_entropy")
    trainer_trl = _trainer(tmp_module, logprob_impl="trl")
    trainer_ops = _trainer(tmp_module, logprob_impl="hf_tokens")
    assert trainer_ops._linear_ops is not None and trainer_trl._linear_ops is None
    inputs, _, _ = _inputs(4)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    am = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    outs = []
    for trainer in (trainer_trl, trainer_ops):
        trainer.model.zero_grad()
        logps, ent, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, am, T, compute_entropy=True)
        m = inputs["completion_mask"].bool()
        (logps[m].sum() + ent[m].sum()).backward()
        grad = trainer.model.get_output_embeddings().weight.grad.clone()
        outs.append((logps.detach(), ent.detach(), grad, m))
    (lp_a, ent_a, g_a, m), (lp_b, ent_b, g_b, _) = outs
    assert torch.allclose(lp_a[m], lp_b[m], atol=1e-5) and torch.allclose(ent_a[m], ent_b[m], atol=1e-5)
    assert torch.allclose(g_a, g_b, atol=1e-4)


# ---- forking-token report ------------------------------------------------------------------------------------------


def test_forking_token_report_on_tiny_model(tokenizer):
    from hf_tokens.testing import tiny_model
    from hf_tokens.trainers.entropy_grpo.analysis import forking_token_report, token_entropies

    model = tiny_model("llama")
    report = forking_token_report(
        model, tokenizer, ["The quick brown", "Hello world"], max_new_tokens=10, top_ratio=0.2
    )
    assert report.num_tokens == sum(len(e) for e in report.entropies) > 0
    values = torch.tensor([h for row in report.entropies for h in row])
    assert report.threshold == pytest.approx(torch.quantile(values, 0.8).item())
    assert report.high_entropy_share == pytest.approx((values >= report.threshold).float().mean().item())
    assert report.entropy_mass_share >= report.high_entropy_share  # the top tokens carry at least their share
    assert report.forking_tokens and all(t.high_entropy_count >= 1 for t in report.forking_tokens)
    # entropies agree with a full softmax over the logits
    ids = tokenizer("Hello world", return_tensors="pt").input_ids
    probs = torch.softmax(model(ids).logits[0, :-1], -1)
    assert torch.allclose(token_entropies(model, ids)[0], -(probs * probs.log()).sum(-1), atol=1e-5)
    from hf_tokens.trainers.entropy_grpo.analysis import demo

    shown = demo(model, tokenizer, "Hello world", 8)
    assert shown["new_tokens"] >= 1 and isinstance(shown["text"], str) and shown["forking_tokens"]
    with pytest.raises(ValueError, match="top_ratio"):
        forking_token_report(model, tokenizer, ["x"], top_ratio=0.0)
    with pytest.raises(TypeError, match="prompts"):
        forking_token_report(model, tokenizer, "not a list")


# ---- a TRL release that stops calling the overridden hooks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "calls_logps", "raises"),
    [
        ({"top_entropy_ratio": 0.25}, False, True),  # the policy forward bypasses our log-prob hook
        ({"top_entropy_ratio": 0.25}, True, True),  # the loss no longer asks for the token mask
        ({"cov_penalty": "clip_cov"}, True, True),  # Clip-Cov lives in the mask hook too
        ({"cov_penalty": "kl_cov", "num_iterations": 2}, True, False),  # KL-Cov needs only the log-probs
    ],
)
def test_trl_that_skips_the_hooks_raises_instead_of_training_plain_grpo(
    tmp_module, monkeypatch, kwargs, calls_logps, raises
):
    trainer = _trainer(tmp_module, **kwargs)
    inputs, logps, ent = _inputs(3, off_policy=True)
    leaf = logps.clone().requires_grad_(True)
    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", lambda *a, **k: (leaf, ent, None))

    def trl_loss_without_mask(self, model, inputs):  # what a TRL whose _compute_loss changed would do
        if calls_logps:
            per_token, _, _ = self._get_per_token_logps_and_entropies(
                model, None, None, inputs["completion_ids"].size(1), compute_entropy=True
            )
            return -(per_token * inputs["completion_mask"]).sum()
        return -(leaf * inputs["completion_mask"]).sum()

    monkeypatch.setattr(GRPOTrainer, "_compute_loss", trl_loss_without_mask)
    if raises:
        with pytest.raises(RuntimeError, match=r"did not call .*plain GRPO loss"):
            trainer._compute_loss(trainer.model, inputs)
    else:
        assert torch.isfinite(trainer._compute_loss(trainer.model, inputs))
