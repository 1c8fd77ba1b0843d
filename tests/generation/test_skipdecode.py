"""SkipDecode: the monotone schedule, the KV cache without skipped layers, batching, limits (tiny models)."""

from __future__ import annotations

import itertools

import pytest
import torch

from hf_tokens.generation.skipdecode.schedule import SkipDecodeConfig, skip_forward
from hf_tokens.generation.skipdecode.skipdecode import generate
from hf_tokens.testing import tiny_model, tiny_tokenizer

LAYERS = 6
SCHEDULE = {"max_layers": 5, "min_layers": 2, "decay_tokens": 6, "warmup_layers": 1}


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", num_hidden_layers=LAYERS)


def test_schedule_is_monotone_and_bounded():
    cfg = SkipDecodeConfig(**SCHEDULE)
    budgets = [cfg.budget(i, LAYERS) for i in range(-1, 12)]
    assert budgets[0] == LAYERS and budgets[1] == 5 and budgets[-1] == 2
    assert all(a >= b for a, b in itertools.pairwise(budgets))
    tops = [cfg.first_top_layer(i, LAYERS) for i in range(-1, 12)]
    assert tops[0] == 0 and all(a <= b for a, b in itertools.pairwise(tops[1:]))
    # active layers = warm-up layers + the layers from the first top layer up
    assert all(cfg.warmup_layers + LAYERS - t == b for t, b in zip(tops[1:], budgets[1:]))


@torch.no_grad()
def test_full_budget_equals_plain_greedy_batched(model):
    ids = torch.tensor([[1, 1, 5, 17, 42], [3, 250, 7, 9, 11]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    plain = model.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False)
    full = {"min_layers": LAYERS, "warmup_layers": 0}
    ours = model.generate(
        ids, attention_mask=mask, max_new_tokens=12, do_sample=False, custom_generate=generate, skipdecode_config=full
    )
    assert torch.equal(ours, plain)


def _reference(model, prompt, new_tokens, cfg):
    """Cacheless: every step recomputes the whole sequence with the schedule's layers per column."""
    seq = list(prompt)
    for _ in range(new_tokens):
        tops = [0] * len(prompt) + [cfg.first_top_layer(i, LAYERS) for i in range(len(seq) - len(prompt))]
        logits = skip_forward(model, torch.tensor([seq]), tops, warmup_layers=cfg.warmup_layers)
        seq.append(int(logits[0, -1].argmax()))
    return seq


@torch.no_grad()
def test_cached_skipping_equals_recomputation_and_cache_skips_layers(model):
    cfg = SkipDecodeConfig(**SCHEDULE)
    prompt = [5, 17, 42, 9, 100]
    want = _reference(model, prompt, 12, cfg)
    stats: dict = {}
    out = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=12,
        do_sample=False,
        custom_generate=generate,
        skipdecode_config=cfg,
        decoding_stats=stats,
        return_dict_in_generate=True,
    )
    assert out.sequences[0].tolist() == want
    plain = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)
    assert plain[0].tolist() != want  # the schedule really changes the computation
    # layer l of the cache holds exactly the positions that ran layer l (the last token is never forwarded)
    seen = len(want) - 1
    tops = [0] * len(prompt) + [cfg.first_top_layer(i, LAYERS) for i in range(seen - len(prompt))]
    for layer, cached in enumerate(out.cache.layers):
        ran = seen if layer < cfg.warmup_layers else sum(1 for t in tops if t <= layer)
        assert cached.keys.shape[-2] == ran, layer
    assert out.cache.layers[1].keys.shape[-2] < seen  # skipped layers were not filled
    expected = (LAYERS + sum(cfg.budget(i, LAYERS) for i in range(11))) / 12
    assert stats["mean_active_layers"] == pytest.approx(expected)


@torch.no_grad()
def test_batch_rows_share_the_schedule_and_equal_rows_alone(model):
    cfg = {**SCHEDULE}
    rows = [[5, 17, 42], [3, 250, 7, 9, 11]]
    ids = torch.tensor([[1, 1, 5, 17, 42], rows[1]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    batched = model.generate(
        ids, attention_mask=mask, max_new_tokens=10, do_sample=False, custom_generate=generate, skipdecode_config=cfg
    )
    for r, prompt in enumerate(rows):
        alone = model.generate(
            torch.tensor([prompt]), max_new_tokens=10, do_sample=False, custom_generate=generate, skipdecode_config=cfg
        )
        assert batched[r, -10:].tolist() == alone[0, -10:].tolist()


def test_bad_models_and_schedules_are_refused(model):
    ids = torch.tensor([[5, 17, 42]])
    with pytest.raises(TypeError, match="Llama-style"):
        tiny_model("gpt2").generate(ids, max_new_tokens=2, custom_generate=generate)
    with pytest.raises(ValueError, match="model has 6"):
        model.generate(ids, max_new_tokens=2, custom_generate=generate, skipdecode_config={"max_layers": 8})
    with pytest.raises(ValueError, match="must exceed warmup_layers"):
        SkipDecodeConfig(min_layers=1, warmup_layers=1)
    with pytest.raises(ValueError, match="max_layers"):
        SkipDecodeConfig(max_layers=3, min_layers=4)
    with pytest.raises(ValueError, match="decay_tokens"):
        SkipDecodeConfig(decay_tokens=0)
    with pytest.raises(ValueError, match="non-decreasing"):
        skip_forward(model, ids, [3, 1, 2], warmup_layers=1)


def test_skip_forward_gradients_reach_only_layers_that_run(model):
    ids = torch.tensor([[5, 17, 42, 9, 100, 3]])
    tops = [0, 0, 0, 4, 4, 5]  # layers 1..3 run only on the first three positions, layer 4 on five, layer 5 on all
    model.zero_grad()
    logits = skip_forward(model, ids, tops, warmup_layers=1)
    logits[0, 3:].sum().backward()  # the skipping positions' logits alone
    grads = [layer.mlp.down_proj.weight.grad for layer in model.model.layers]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)  # earlier positions feed later ones via attention
    model.zero_grad()
    logits = skip_forward(model, ids[:, 3:], [4, 4, 5], warmup_layers=1)  # no earlier positions: layers 1..3 unused
    logits.sum().backward()
    grads = [layer.mlp.down_proj.weight.grad for layer in model.model.layers]
    assert all(g is None or g.abs().sum() == 0 for g in grads[1:4])
    assert grads[0].abs().sum() > 0 and grads[4].abs().sum() > 0
    model.zero_grad()


def test_finetune_recipe_lowers_the_scheduled_loss(tmp_path):
    from datasets import Dataset

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.generation.skipdecode.train import SkipDecodeSFTConfig, SkipDecodeSFTTrainer, skip_lm_loss

    model = tiny_model("llama", num_hidden_layers=4)
    g = torch.Generator().manual_seed(0)
    rows = [torch.randint(2, 40, (24,), generator=g).tolist() for _ in range(8)]  # a small, learnable vocabulary
    data = Dataset.from_dict({"input_ids": rows})
    args = SkipDecodeSFTConfig(
        output_dir=str(tmp_path),
        max_steps=15,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        bf16=False,
        report_to=[],
        save_strategy="no",
        logging_steps=5,
        skip_min_layers=2,
        skip_decay_tokens=8,
        skip_min_start=2,
        skip_max_start=6,
        use_cpu=True,
        **no_checkpointing(),
    )
    assert args.schedule().min_layers == 2
    batch = {"input_ids": torch.tensor(rows)}
    with torch.no_grad():
        before = float(skip_lm_loss(model, batch, args.schedule(), start=4))
    trainer = SkipDecodeSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tiny_tokenizer())
    trainer.train()
    with torch.no_grad():
        after = float(skip_lm_loss(model, batch, args.schedule(), start=4))
    assert after < before - 0.5
    with pytest.raises(ValueError, match="skip_max_start"):
        SkipDecodeSFTConfig(output_dir=str(tmp_path), bf16=False, skip_min_start=8, skip_max_start=4)
    with pytest.raises(ValueError, match="warmup_layers"):
        SkipDecodeSFTConfig(output_dir=str(tmp_path), bf16=False, skip_min_layers=1)
