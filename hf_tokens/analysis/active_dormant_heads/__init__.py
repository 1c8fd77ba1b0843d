"""Active-dormant attention heads (arXiv 2410.13835): attention sinks, value-state drains and residual-state peaks per
head and layer of any HF causal LM, and which heads are dormant (sinks) on one input domain and active on another."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

TOY = "bench_results/active_dormant_toy.json"
QWEN = "bench_results/active_dormant_qwen05b.json"

register(
    "active-dormant-heads",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.active_dormant_heads.report:active_dormant_heads",
    config="hf_tokens.analysis.active_dormant_heads.report:ActiveDormantConfig",
    contract="hf_tokens.analysis.active_dormant_heads.report:contract",
    headline=Headline(
        "dormant (sink share >= 0.5) heads of SmolLM2-135M: {c.pct.value:.0f}% on code, {p.pct.value:.0f}% on prose, "
        "{n.pct.value:.0f}% on numbers; {s.value:.0f} heads switch between active and dormant across the domains; "
        "Qwen2.5-Coder-0.5B: {qc.pct.value:.0f}% / {qp.pct.value:.0f}% / {qn.pct.value:.0f}%, "
        "{qs.value:.0f} of {qs.heads:.0f} heads switch. "
        "Bigram-Backcopy toy (1-layer Llama, 3 seeds, 3000 CPU steps): BOS sink share of non-trigger queries "
        "{ta.value:.2f} with softmax + AdamW (trigger queries {tt.value:.2f}; BOS value norm x{td.value:.2f}), "
        "{tr.value:.2f} with ReLU attention, {tg.value:.2f} with SGD",
        file="bench_results/active_dormant.json",
        rows={
            "c": {"method": "active-dormant-heads[code]", "metric": "dormant_share"},
            "p": {"method": "active-dormant-heads[prose]", "metric": "dormant_share"},
            "n": {"method": "active-dormant-heads[numbers]", "metric": "dormant_share"},
            "s": {"method": "active-dormant-heads", "metric": "switching_heads"},
            "qc": {"file": QWEN, "method": "active-dormant-heads[code]", "metric": "dormant_share"},
            "qp": {"file": QWEN, "method": "active-dormant-heads[prose]", "metric": "dormant_share"},
            "qn": {"file": QWEN, "method": "active-dormant-heads[numbers]", "metric": "dormant_share"},
            "qs": {"file": QWEN, "method": "active-dormant-heads", "metric": "switching_heads"},
            "ta": {"file": TOY, "method": "softmax+adam", "metric": "sink_share_non_trigger"},
            "tt": {"file": TOY, "method": "softmax+adam", "metric": "sink_share_trigger"},
            "td": {"file": TOY, "method": "softmax+adam", "metric": "value_drain"},
            "tr": {"file": TOY, "method": "relu+adam", "metric": "sink_share_non_trigger"},
            "tg": {"file": TOY, "method": "softmax+sgd", "metric": "sink_share_non_trigger"},
        },
    ),
    benchmark=(
        "python benchmarks/analysis.py --stage heads --texts 6 --json bench_results/active_dormant.json "
        "--plot bench_results/active_dormant.png; python benchmarks/analysis.py --stage heads --texts 6 --model "
        "qwen2.5-coder-0.5b --json bench_results/active_dormant_qwen05b.json --plot "
        "bench_results/active_dormant_qwen05b.png (after HF_TOKENS_QWEN=1 bash setup.sh); "
        "python benchmarks/active_dormant_toy.py --json "
        "bench_results/active_dormant_toy.json"
    ),
    usage=(
        "from hf_tokens.analysis.active_dormant_heads import active_dormant_heads\n"
        "report = active_dormant_heads(model, tokenizer, {'code': code_texts, 'prose': prose_texts})\n"
        "report.dormant_share, report.switching_heads[:3]  # per domain; heads dormant on one, active on another"
    ),
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "active_dormant_heads": ".report",
        "BigramBackcopy": ".bigram_backcopy",
        "ToyConfig": ".bigram_backcopy",
        "train_arm": ".bigram_backcopy",
        "bb_report": ".bigram_backcopy",
        "extreme_token_stats": ".report",
        "ActiveDormantConfig": ".report",
        "ActiveDormantReport": ".report",
    },
)
