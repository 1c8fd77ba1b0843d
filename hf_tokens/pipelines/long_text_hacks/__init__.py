"""Long-text hacks (Mutasodirin et al., arXiv 2403.12563): shorten long documents for sequence classification by
removing stopwords, punctuation, low-frequency words or recurring words, then cutting to the token budget (head,
tail or head+tail); a budget-limited, resumable search that picks the shortening on a validation split; and a
``long-text-classification`` transformers pipeline that shortens, then classifies."""

from hf_tokens.registry import lazy_exports, register

register(
    "long-text-hacks",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.long_text_hacks.pipeline:LongTextClassificationPipeline",
    config="hf_tokens.pipelines.long_text_hacks.search:LongTextHacksConfig",
    contract="hf_tokens.pipelines.long_text_hacks.pipeline:contract",
    benchmark="OMP_NUM_THREADS=1 python benchmarks/long_text.py --threads 1 --json bench_results/long_text.json",
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
