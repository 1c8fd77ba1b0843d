"""RSQ: Rotate, Scale, then Quantize (arXiv 2503.01820) as a transformers quantizer.

``AutoModelForCausalLM.from_pretrained(folder, quantization_config=RSQConfig(bits=4))`` rotates the model
(Hadamard rotations fused into the weights), weights each calibration token by its attention concentration, and
quantizes every decoder linear layer with GPTQ on the importance-weighted Hessian; the packed model saves and
reloads through ``save_pretrained``/``from_pretrained``. Modules: ``config`` (``RSQConfig``), ``rotation``,
``importance``, ``gptq``, ``packing``, ``modules`` (``RSQLinear``), ``triton_kernel``, ``calibrate``
(``quantize_model``), ``quantizer`` (``RSQHfQuantizer``, registered on import), ``hub`` (``save_quantized``).

Deviations from the paper / official code, all deliberate:

* the online Hadamard before ``down_proj`` (QuaRot's R4, ``RSQConfig(online_hadamard=True)``, the default) is
  applied as the official code does, but not the online Hadamard *across heads* before ``o_proj`` (it needs a
  Hadamard matrix of order ``num_attention_heads``: none exists for SmolLM2's 9 or Qwen2.5-0.5B's 14 heads);
  ``o_proj`` keeps the offline per-head rotation;
* the linears of one layer share one calibration pass (Hessians of the full-precision layer), not GPTQ's
  "true sequential" order; with ``act_order`` the group grids are static (fitted before GPTQ);
* importance is min-max scaled per sequence to ``[importance_min, importance_max]`` = ``[0.005, 1]`` (the official
  run script's values; the script notes a search of the minimum over 0.1 ... 0.005) and then normalised to mean 1
  per sequence before scaling the Hessian, both as the official code does (``GPTQ.add_batch`` there rescales the
  weights to sum to the token count);
* calibration text comes from the offline corpora of ``hf_tokens.assets.text`` (no WikiText/C4 here);
* embeddings and LM head stay in full precision; rotation unties tied embeddings (the head carries the final
  norm's scale), so a rotated checkpoint stores both (larger on disk than an unrotated one);
* the grid search of ``clip_search`` (the official runs' ``--w_clip``) is on by default, as there (measure
  ``clip_search=False`` on your model: on Qwen2.5-0.5B at 4-bit g128 plain min-max grids gave every arm a lower
  perplexity, per-channel the grid search was better; see the README row); the grids are
  asymmetric by default (``sym=False``; the official runs are symmetric) with groups of 128 (the official runs are
  per-channel: ``group_size=-1``); calibration defaults to 64 x 512 tokens (official: 256 x 4096; per-channel
  needs more: SmolLM2 4-bit per-channel came within 10% of fp32 at 128 x 1024 tokens, not at 32 x 512);
* the CPU path dequantizes at every call (the Triton kernel is the fast path on GPUs).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

QUANT = "bench_results/quantization.json"
PER_CHANNEL = "bench_results/quantization_per_channel.json"
PER_CHANNEL_3 = "bench_results/quantization_per_channel_3bit.json"
QWEN = "bench_results/quantization_qwen05b.json"
QWEN_3 = "bench_results/quantization_qwen05b_3bit.json"
QWEN_PC = "bench_results/quantization_qwen05b_per_channel.json"
QWEN_PC3 = "bench_results/quantization_qwen05b_per_channel_3bit.json"
PEER = "bench_results/quantization_peer.json"
PEER_QWEN = "bench_results/quantization_peer_qwen05b.json"
QWEN_MM_RSQ = "bench_results/quantization_qwen05b_minmax_rsq.json"
QWEN_MM_QUAROT = "bench_results/quantization_qwen05b_minmax_quarot.json"
QWEN_PC_MM_RSQ = "bench_results/quantization_qwen05b_per_channel_minmax_rsq.json"
QWEN_PC_MM_QUAROT = "bench_results/quantization_qwen05b_per_channel_minmax_quarot.json"
# the 32x512 per-channel runs at calibration-window/rotation seeds 0, 1, 2 (SmolLM2) and 0, 1 (Qwen)
PC_512 = [f"bench_results/quantization_per_channel_32x512{f'_seed{s}' if s else ''}.json" for s in (0, 1, 2)]
QWEN_PC_512 = [f"bench_results/quantization_qwen05b_per_channel_32x512{f'_seed{s}' if s else ''}.json" for s in (0, 1)]
PC_1024 = "bench_results/quantization_per_channel_128x1024.json"


def _seeds(key: str, files: list[str], method: str) -> tuple[str, dict[str, dict[str, str]]]:
    """Headline text ``a / b / ...`` and rows ``<key><i>`` of ``method``'s perplexity in each seed's file."""
    rows = {f"{key}{i}": {"file": f, "method": method, "metric": "ppl"} for i, f in enumerate(files)}
    return " / ".join(f"{{{k}.value:.2f}}" for k in rows), rows


PC_RSQ, PC_RSQ_ROWS = _seeds("sr", PC_512, "rsq-static@w4pc")
PC_QUAROT, PC_QUAROT_ROWS = _seeds("sq", PC_512, "quarot-static@w4pc")
QWEN_PC_RSQ, QWEN_PC_RSQ_ROWS = _seeds("qr", QWEN_PC_512, "rsq-static@w4pc")
QWEN_PC_QUAROT, QWEN_PC_QUAROT_ROWS = _seeds("qq", QWEN_PC_512, "quarot-static@w4pc")


def _arms(tag: str, file: str, suffix: str = "") -> dict[str, dict[str, str]]:
    """Headline rows ``<arm><tag><suffix>`` (e.g. ``rsq4pcq``) of the ``<arm>-static@w..`` (or ``rtn@w..``)
    perplexities in ``file``."""
    setting = f"@w{tag[0]}{tag[1:] or 'g128'}"
    methods = {"rsq": "rsq-static", "quarot": "quarot-static", "gptq": "gptq-static", "rtn": "rtn"}
    return {
        f"{arm}{tag}{suffix}": {"file": file, "method": m + setting, "metric": "ppl"} for arm, m in methods.items()
    }


register(
    "rsq",
    status="experimental",
    extension="quantization",
    entry="hf_tokens.quantization.rsq.quantizer:RSQHfQuantizer",
    config="hf_tokens.quantization.rsq.config:RSQConfig",
    contract="hf_tokens.quantization.rsq.quantizer:contract",
    demo="hf_tokens.quantization.rsq.demo:demo",
    headline=Headline(
        "Held-out perplexity, act-order GPTQ with the official runs' grid search, RSQ / QuaRot-style rotation+GPTQ / "
        "GPTQ / RTN. SmolLM2-135M (fp32 {f.value:.1f}, 32x512 calibration tokens, 24x512 held-out): 4-bit g128 "
        "{rsq4.value:.1f} / {quarot4.value:.1f} / {gptq4.value:.1f} / {rtn4.value:.1f}; 3-bit g128 {rsq3.value:.1f} / "
        "{quarot3.value:.1f} / {gptq3.value:.1f} / {rtn3.value:.1f}; 4-bit per-channel, the paper's setting (fp32 "
        "{fpc.value:.1f}, 16x256 calibration, 8x512 held-out) {rsq4pc.value:.1f} / {quarot4pc.value:.1f} / "
        "{gptq4pc.value:.1f} / {rtn4pc.value:.1f}, 3-bit {rsq3pc.value:.1f} / {quarot3pc.value:.1f} / "
        "{gptq3pc.value:.1f} / {rtn3pc.value:.1f}. Qwen2.5-Coder-0.5B (fp32 {qf.value:.1f}, 32x256, 8x512): 4-bit "
        "g128 {rsq4q.value:.3f} / {quarot4q.value:.3f} / {gptq4q.value:.1f} / {rtn4q.value:.1f}; 3-bit g128 "
        "{rsq3q.value:.2f} / {quarot3q.value:.2f} / {gptq3q.value:.1f} / {rtn3q.value:.1f}; 4-bit per-channel "
        "{rsq4pcq.value:.2f} / {quarot4pcq.value:.2f} / {gptq4pcq.value:.1f} / {rtn4pcq.value:.1f}; 3-bit "
        "per-channel {rsq3pcq.value:.2f} / {quarot3pcq.value:.2f} / {gptq3pcq.value:.1f} / {rtn3pcq.value:.1f}. "
        "With min-max grids instead of the grid search, Qwen 4-bit g128 (better for every arm): RSQ "
        "{mrq.value:.2f} / QuaRot-style {mqq.value:.2f} / GPTQ {pgq.value:.2f} / llmcompressor's GPTQ "
        "{plq.value:.2f}; 4-bit per-channel: RSQ {mrpq.value:.2f} / QuaRot-style {mqpq.value:.2f}. "
        "More calibration, 4-bit per-channel, 32x512 tokens at calibration/rotation seeds 0 / 1 / 2: SmolLM2 "
        "(24x512 held-out, fp32 {f.value:.2f}) RSQ " + PC_RSQ + " vs QuaRot-style " + PC_QUAROT + " (seed 0: GPTQ "
        "{gptq4pcs.value:.1f}, RTN {rtn4pcs.value:.1f}); Qwen (8x512 held-out), seeds 0 / 1: "
        "RSQ " + QWEN_PC_RSQ + " vs QuaRot-style " + QWEN_PC_QUAROT + " (seed 0: GPTQ {gptq4pcqs.value:.1f}); "
        "SmolLM2 with 128x1024 calibration "
        "tokens: RSQ {rsq4pcl.value:.2f} / QuaRot-style {quarot4pcl.value:.2f}. "
        "Our GPTQ vs llmcompressor's (both min-max, static act-order) on SmolLM2 4-bit g64: "
        "{pg.value:.2f} vs {pl.value:.2f}",
        file=QUANT,
        rows={
            "f": {"method": "fp32", "metric": "ppl"},
            **_arms("4", QUANT),
            **_arms("3", QUANT),
            "fpc": {"file": PER_CHANNEL, "method": "fp32", "metric": "ppl"},
            **_arms("4pc", PER_CHANNEL),
            **_arms("3pc", PER_CHANNEL_3),
            "qf": {"file": QWEN, "method": "fp32", "metric": "ppl"},
            **_arms("4", QWEN, suffix="q"),
            **_arms("3", QWEN_3, suffix="q"),
            **_arms("4pc", QWEN_PC, suffix="q"),
            **_arms("3pc", QWEN_PC3, suffix="q"),
            "pg": {"file": PEER, "method": "gptq-static@w4g64", "metric": "ppl"},
            "pl": {"file": PEER, "method": "llmcompressor-static@w4g64", "metric": "ppl"},
            "mrq": {"file": QWEN_MM_RSQ, "method": "rsq-static@w4g128", "metric": "ppl"},
            "mqq": {"file": QWEN_MM_QUAROT, "method": "quarot-static@w4g128", "metric": "ppl"},
            "mrpq": {"file": QWEN_PC_MM_RSQ, "method": "rsq-static@w4pc", "metric": "ppl"},
            "mqpq": {"file": QWEN_PC_MM_QUAROT, "method": "quarot-static@w4pc", "metric": "ppl"},
            **PC_RSQ_ROWS,
            **PC_QUAROT_ROWS,
            **QWEN_PC_RSQ_ROWS,
            **QWEN_PC_QUAROT_ROWS,
            "gptq4pcs": {"file": PC_512[0], "method": "gptq-static@w4pc", "metric": "ppl"},
            "rtn4pcs": {"file": PC_512[0], "method": "rtn@w4pc", "metric": "ppl"},
            "gptq4pcqs": {"file": QWEN_PC_512[0], "method": "gptq-static@w4pc", "metric": "ppl"},
            "rsq4pcl": {"file": PC_1024, "method": "rsq-static@w4pc", "metric": "ppl"},
            "quarot4pcl": {"file": PC_1024, "method": "quarot-static@w4pc", "metric": "ppl"},
            "pgq": {"file": PEER_QWEN, "method": "gptq-static@w4g128", "metric": "ppl"},
            "plq": {"file": PEER_QWEN, "method": "llmcompressor-static@w4g128", "metric": "ppl"},
        },
    ),
    benchmark=(
        "python benchmarks/quantization.py --bits 4 3 --samples 32 --arms rsq-static quarot-static gptq-static rtn "
        "--threads 1 --json bench_results/quantization.json; the same with --bits 4 --group-size -1 --samples 16 "
        "--seq-len 256 --eval-windows 8 --choice-items 100 --repeats 1 --decode-tokens 8 --json "
        "bench_results/quantization_per_channel.json; --model qwen2.5-coder-0.5b --bits 4 --samples 32 --seq-len 256 "
        "--eval-windows 8 --choice-items 100 --repeats 1 --decode-tokens 8 --json "
        "bench_results/quantization_qwen05b.json (and --bits 3, --group-size -1 with --bits 4 or 3: "
        "quantization_qwen05b_3bit.json, _per_channel.json, _per_channel_3bit.json); --grid minmax --bits 4 "
        "--group-size 64 --samples 16 --seq-len 256 --eval-windows 8 --choice-items 100 --repeats 1 --decode-tokens "
        "8 --arms gptq-static llmcompressor-static --json bench_results/quantization_peer.json (llmcompressor: "
        ".venv-llmcompressor); --model qwen2.5-coder-0.5b --grid minmax --bits 4 --samples 32 --seq-len 256 "
        "--eval-windows 8 --choice-items 20 --repeats 1 --decode-tokens 2 --arms gptq-static llmcompressor-static "
        "--json bench_results/quantization_peer_qwen05b.json (and --arms rsq-static, --arms quarot-static: "
        "quantization_qwen05b_minmax_rsq.json, _minmax_quarot.json; with --group-size -1: "
        "quantization_qwen05b_per_channel_minmax_rsq.json, _minmax_quarot.json); --bits 4 --group-size -1 --samples "
        "32 --seq-len 512 --eval-windows 24 --choice-items 200 --repeats 1 --decode-tokens 8 --arms rsq-static "
        "quarot-static gptq-static rtn --json bench_results/quantization_per_channel_32x512.json (and --arms "
        "rsq-static quarot-static --seed 1 or 2: _32x512_seed1.json, _seed2.json; --samples 128 --seq-len 1024 "
        "--arms rsq-static quarot-static: quantization_per_channel_128x1024.json); --model qwen2.5-coder-0.5b --bits "
        "4 --group-size -1 --samples 32 --seq-len 512 --eval-windows 8 --choice-items 100 --repeats 1 "
        "--decode-tokens 8 --arms rsq-static quarot-static gptq-static --json "
        "bench_results/quantization_qwen05b_per_channel_32x512.json (and --arms rsq-static quarot-static --seed 1: "
        "_32x512_seed1.json)"
    ),
    usage=(
        "from transformers import AutoModelForCausalLM\n"
        "from hf_tokens.quantization.rsq import RSQConfig  # registers quant_method='rsq' with transformers\n\n"
        "config = RSQConfig(bits=4, group_size=128, calibration='fortunes', num_samples=64, seq_len=512)\n"
        "model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=config)  # rotate, scale, GPTQ\n"
        "model.save_pretrained('model-rsq-4bit')  # packed int32 codes + scales/zeros in safetensors"
    ),
)

# RSQConfig's module registers the config and RSQHfQuantizer with transformers when it is imported
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RSQConfig": ".config",
        "RSQHfQuantizer": ".quantizer",
        "RSQLinear": ".modules",
        "quantize_model": ".calibrate",
        "rotate_model": ".rotation",
    },
)
