"""Training transformers / PEFT causal LMs with Cut Cross-Entropy through the scoped forward wrapper."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.ops.linear_cross_entropy import (
    CARD_TRAINING_NOTE,
    cut_cross_entropy_loss,
    enable_cut_cross_entropy,
)
from hf_tokens.ops.linear_cross_entropy.hf import model_card
from hf_tokens.testing import ARCHITECTURES, tiny_model


def _batch(vocab=320, seed=0, b=2, t=12):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (b, t), generator=gen)
    labels = ids.clone()
    labels[0, :3] = -100  # a masked prompt
    return ids, labels


def _loss_and_grads(model, ids, labels, **kw):
    model.zero_grad()
    out = model(input_ids=ids, labels=labels, **kw)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_same_loss_and_grads_as_standard_loss_and_reversible(arch):
    model = tiny_model(arch)  # eval mode: GPT-2's dropout would make two forwards differ; gradients still flow
    ids, labels = _batch()
    ref, ref_grads = _loss_and_grads(model, ids, labels)
    forward_before = model.forward
    with cut_cross_entropy_loss(model) as m:
        assert m is model
        ours, grads = _loss_and_grads(model, ids, labels)
        assert ours.logits is None  # the [B, T, V] logits were never built
        plain = model(input_ids=ids)  # no labels: the original forward, logits as usual
        assert plain.logits.shape == (*ids.shape, 320)
    torch.testing.assert_close(ours.loss, ref.loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # reversible: no instance attribute left, the class's forward is used again, logits come back
    assert "forward" not in model.__dict__ and model.forward == forward_before
    assert "forward" not in model.get_output_embeddings().__dict__
    assert model(input_ids=ids, labels=labels).logits is not None


def test_gradient_accumulation_normalisation_and_shift_labels():
    model = tiny_model("llama").train()
    ids, labels = _batch()
    ref = model(input_ids=ids, labels=labels, num_items_in_batch=40).loss
    shifted = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:].contiguous()
    ref_shift = model(input_ids=ids, labels=labels, shift_labels=shifted).loss
    with cut_cross_entropy_loss(model):
        torch.testing.assert_close(model(input_ids=ids, labels=labels, num_items_in_batch=40).loss, ref)
        torch.testing.assert_close(model(input_ids=ids, labels=labels, shift_labels=shifted).loss, ref_shift)


def test_final_logit_softcapping_is_applied():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, final_logit_softcapping=5.0, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(config).train()
    with torch.no_grad():
        model.lm_head.weight.mul_(30)  # push logits into the softcap's non-linear range
    ids, labels = _batch(vocab=300)
    ref, ref_grads = _loss_and_grads(model, ids, labels)
    with cut_cross_entropy_loss(model):
        ours, grads = _loss_and_grads(model, ids, labels)
    torch.testing.assert_close(ours.loss, ref.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["model.embed_tokens.weight"], ref_grads["model.embed_tokens.weight"])


def test_peft_lora_model():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model("llama"), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0))
    for name, p in model.named_parameters():  # non-zero B so LoRA gradients flow into A as well
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    ids, labels = _batch()
    ref, ref_grads = _loss_and_grads(model, ids, labels)
    with cut_cross_entropy_loss(model):
        ours, grads = _loss_and_grads(model, ids, labels)
    torch.testing.assert_close(ours.loss, ref.loss, rtol=1e-5, atol=1e-6)
    assert grads and all("lora_" in n for n in grads)
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-7, msg=name)
    assert "forward" not in model.get_base_model().__dict__


def _train(model, steps, use_cce):
    torch.manual_seed(1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    ctx = cut_cross_entropy_loss(model) if use_cce else torch.enable_grad()
    with ctx:
        for step in range(steps):
            ids, labels = _batch(seed=step % 4, b=4, t=16)
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def test_twenty_training_steps_follow_the_standard_loss_curve():
    standard = _train(tiny_model("llama").train(), 20, use_cce=False)
    ours = _train(tiny_model("llama").train(), 20, use_cce=True)
    assert standard[-1] < standard[0] - 0.5  # it does learn
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(standard), rtol=1e-3, atol=1e-3)


def test_transformers_trainer_with_gradient_accumulation(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    ids, labels = _batch(b=8, t=16)
    data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": labels.tolist()})
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=2, max_steps=3,
        learning_rate=1e-3, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", seed=0,
    )  # fmt: skip

    def run(use_cce):
        model = tiny_model("llama").train()
        trainer = Trainer(model=model, args=args, train_dataset=data)
        ctx = cut_cross_entropy_loss(model) if use_cce else torch.enable_grad()
        with ctx:
            trainer.train()
        return [h["loss"] for h in trainer.state.log_history if "loss" in h]

    torch.testing.assert_close(torch.tensor(run(True)), torch.tensor(run(False)), rtol=1e-4, atol=1e-4)


def test_bad_input_leaves_model_unchanged():
    from peft import LoraConfig, get_peft_model

    model = tiny_model("llama")
    with pytest.raises(TypeError, match="causal LM"):
        enable_cut_cross_entropy(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="impl must be one of"):
        enable_cut_cross_entropy(model, impl="fast")
    with pytest.raises(ValueError, match="filter_eps"):
        enable_cut_cross_entropy(model, filter_eps=-1.0)
    assert "forward" not in model.__dict__
    handle = enable_cut_cross_entropy(model)
    with pytest.raises(ValueError, match="already enabled"):
        enable_cut_cross_entropy(model)
    handle.remove()
    handle.remove()  # idempotent
    assert "forward" not in model.__dict__
    lora_head = get_peft_model(tiny_model("llama"), LoraConfig(r=2, target_modules=["lm_head"]))
    with pytest.raises(ValueError, match="adapter on lm_head"):
        enable_cut_cross_entropy(lora_head)
    # an error inside the context still restores the forward
    with pytest.raises(RuntimeError, match="boom"), cut_cross_entropy_loss(model):
        raise RuntimeError("boom")
    assert "forward" not in model.__dict__


def test_model_card_mentions_the_loss():
    card = model_card("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert "Cut Cross-Entropy" in card.content and CARD_TRAINING_NOTE[:40] in card.content
    assert "arXiv:2411.09009" in card.content and "SmolLM2-135M" in card.content


def test_wrapper_installed_on_top_is_kept_on_exit():
    """A forward wrapper installed inside the context (TRL's SFTTrainer does this) survives the context's exit."""
    model = tiny_model("llama")
    ids, labels = _batch()
    ref = model(input_ids=ids, labels=labels)
    with cut_cross_entropy_loss(model):
        ours_fwd = model.forward

        def outer(*args, **kwargs):
            return ours_fwd(*args, **kwargs)

        model.forward = outer
        assert model(input_ids=ids, labels=labels).logits is None  # ours, through the outer wrapper
    assert model.forward is outer
    out = model(input_ids=ids, labels=labels)  # ours is a pass-through now: the standard forward
    assert out.logits is not None
    torch.testing.assert_close(out.loss, ref.loss)


def test_demo_converts_no_tensor_that_requires_grad(smollm2):
    """`hf-tokens run --method cut-cross-entropy` reads its losses without torch's requires_grad warning, and its two
    losses and head gradients agree (float32 through 30 layers: to 1e-4)."""
    import warnings

    from hf_tokens.ops.linear_cross_entropy.demo import demo

    model, tok = smollm2
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "Converting a tensor with requires_grad", UserWarning)
        out = demo(model, tok, "What is the capital of France?", max_new_tokens=4)
    assert out["abs_difference"] < 1e-4 and out["head_grad_max_abs_difference"] < 1e-4
    assert out["peak_mb_cut_cross_entropy"] > 0 and out["peak_mb_standard"] > 0
