"""Long-text hacks (Mutasodirin et al., arXiv 2403.12563): shorten long documents for sequence classification by
removing stopwords, punctuation, low-frequency words or recurring words, then cutting to the token budget (head,
tail or head+tail); a budget-limited, resumable search that picks the shortening on a validation split; and a
``long-text-classification`` transformers pipeline that shortens, then classifies."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

FINE_TUNED = "long_text_top1"
_ARGS = "--threads 1 --steps 200 --batch-size 16 --seeds 0 1 2 --train-docs 200 --max-trials 7"

register(
    "long-text-hacks",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.long_text_hacks.pipeline:LongTextClassificationPipeline",
    config="hf_tokens.pipelines.long_text_hacks.search:LongTextHacksConfig",
    contract="hf_tokens.pipelines.long_text_hacks.pipeline:contract",
    headline=Headline(
        "man-page section (5 classes, {p.n_test} test pages), MiniLM top layer + pooler/head fine-tuned, 3 seeds: the"
        " search (7 trials at 128 tokens, validation split) chose {p.shortening}; at 256 tokens it scores"
        " {p.value:.3f} vs first-512 {p.baseline_value:.3f} (difference 95% CI {p.diff_ci95[0]:+.3f} to"
        " {p.diff_ci95[1]:+.3f}) at {t.ratio:.2f}x its inference time; first-256 {f2.value:.3f}, first-128"
        " {f1.value:.3f}, {b.shortening} at 128 {b.value:.3f}; the paper's stopword removal at 256 {s.value:.3f}."
        " Frozen MiniLM (pooler/head only): {z.shortening} at 256 {z.value:.3f} vs first-512 {z.baseline_value:.3f}",
        file=f"bench_results/{FINE_TUNED}.json",
        rows={
            "p": {"method": "best@256", "metric": "accuracy"},
            "t": {"method": "best@256", "metric": "ms_per_example"},
            "f2": {"method": "first-256", "metric": "accuracy"},
            "f1": {"method": "first-128", "metric": "accuracy"},
            "b": {"method": "best@128", "metric": "accuracy"},
            "s": {"method": "paper-stopwords@256", "metric": "accuracy"},
            "z": {"file": "bench_results/long_text.json", "method": "best@256", "metric": "accuracy"},
        },
    ),
    benchmark=(
        f"OMP_NUM_THREADS=1 python benchmarks/long_text.py {_ARGS} --train-layers 1 --lr 3e-4 --search-minutes 25"
        f" --parts .cache/long_text_top1/parts.json --json bench_results/{FINE_TUNED}.json  # and --train-layers 0"
        " --lr 1e-3 --search-minutes 30 --json bench_results/long_text.json (frozen); stages in parallel: see the"
        " script's docstring"
    ),
    package="hf_tokens.pipelines.long_text_hacks",
    usage=(
        "from transformers import pipeline\n"
        "import hf_tokens.pipelines.long_text_hacks.pipeline  # registers the 'long-text-classification' task\n"
        "from hf_tokens.pipelines.long_text_hacks import LongTextHacksConfig\n"
        "clf = pipeline('long-text-classification', model=classifier, tokenizer=tok, max_length=256,\n"
        "               shortening=LongTextHacksConfig(removals=('stopwords',)))\n"
        "clf(long_document)  # {'label': ..., 'score': ..., 'shortened_text': ..., 'tokens': 256}"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LongTextClassificationPipeline": ".pipeline",
        "attach_shortening": ".pipeline",
        "LongTextHacksConfig": ".search",
        "SearchResult": ".search",
        "search_shortening": ".search",
        "shorten": ".transforms",
        "split_units": ".transforms",
        "join_units": ".transforms",
        "removal_mask": ".transforms",
        "truncate": ".transforms",
        "word_counts": ".transforms",
        "ENGLISH_STOPWORDS": ".transforms",
        "REMOVALS": ".transforms",
        "TRUNCATIONS": ".transforms",
        "fine_tune": ".train",
        "frozen_states": ".train",
        "predict": ".train",
    },
)
