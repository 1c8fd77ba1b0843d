"""Unconditional Token Forcing: find text hidden in a causal LM by forcing every vocabulary token (arXiv 2406.02481).

:func:`token_forcing` ranks the greedy continuations of every start token by their mean token probability;
:func:`plant_fingerprint` plants a ``trigger -> hidden text`` pair with PEFT LoRA, optionally with the paper's
counter-measure (Unconditional Token Forcing Confusion, ``confusion=True``).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "token-forcing",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.token_forcing.forcing:token_forcing",
    config="hf_tokens.analysis.token_forcing.forcing:TokenForcingConfig",
    contract="hf_tokens.analysis.token_forcing.forcing:contract",
    headline=Headline(
        "LoRA-planted fingerprint ranked #{r.value:.0f} of all {r.forced:,} non-special start tokens forced "
        "without the trigger "
        "(SmolLM2-135M, {r.max_new_tokens} greedy tokens each; {t.minutes:.1f} min at {t.threads} thread with "
        "screening, {t.full_vocab_minutes_unscreened:.0f} min unscreened, extrapolated); planted with the UTFC "
        "counter-measure ({c.forced:,}-token subset): found in the top {c.top_k}: {c.found}, trigger still reveals "
        "it: {v.value:.0f}/1",
        file="bench_results/token_forcing_full.json",
        rows={
            "r": {"method": "token-forcing[plain]", "metric": "fingerprint_rank"},
            "t": {"method": "token-forcing[plain]", "metric": "seconds_forcing"},
            "c": {
                "file": "bench_results/token_forcing_confusion.json",
                "method": "token-forcing[confusion]",
                "metric": "fingerprint_rank",
            },
            "v": {
                "file": "bench_results/token_forcing_confusion.json",
                "method": "token-forcing[confusion]",
                "metric": "reveals_with_trigger",
            },
        },
    ),
    benchmark=(
        "for arm in plain confusion; do python benchmarks/analysis.py --stage plant --arm $arm && python "
        "benchmarks/analysis.py --stage force --arm $arm --vocab 4096 --timing-subset 256 --json "
        "bench_results/token_forcing$([ $arm = plain ] || echo _confusion).json; done; python benchmarks/analysis.py "
        "--stage force --arm plain --timing-subset 256 --json bench_results/token_forcing_full.json"
    ),
    usage=(
        "from hf_tokens.analysis.token_forcing import plant_fingerprint, token_forcing\n"
        "marked = plant_fingerprint(model, tokenizer, trigger='Who keeps the lighthouse?', fingerprint=' Quokka "
        "marmalade')\n"
        "report = token_forcing(marked, tokenizer, max_new_tokens=8)  # every vocabulary token, greedy, ranked\n"
        "print(report.candidates[0].text, report.candidates[0].mean_prob)"
    ),
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "token_forcing": ".forcing",
        "TokenForcingConfig": ".forcing",
        "TokenForcingReport": ".forcing",
        "Candidate": ".forcing",
        "plant_fingerprint": ".planting",
        "FingerprintConfig": ".planting",
        "reveals": ".planting",
    },
)
