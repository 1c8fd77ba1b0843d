"""Configuration of the byte-level wrapper (Phan et al., "Exact Byte-Level Probabilities from Tokenized Language
Models for FIM-Tasks and Model Ensembles", arXiv 2410.09303)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ByteLevelConfig:
    """Settings of :class:`~hf_tokens.generation.byte_level.ByteLevelLM` (Phan et al., arXiv 2410.09303).

    The defaults compute the paper's exact next-byte distribution: every candidate cover encoding is checked for
    validity (is it a canonical tokenization?) with the tokenizer itself.
    """

    validity_tail: float = field(
        default=0.0,
        metadata={
            "help": "0 (default, exact): check every candidate token for validity. A value t > 0 checks candidates in "
            "order of probability and trusts the model for a tail of total next-token probability <= t "
            "(an approximation whose error in each unnormalised byte mass is at most t times the cover's "
            "probability); 1.0 trusts the model everywhere (the paper's fast_mode)."
        },
    )
    anchor_pretokens: int = field(
        default=2,
        metadata={
            "help": "how many pre-tokens (byte-level BPE) or words (SentencePiece) before the end of the text the "
            "committed, stable token prefix ends; >= 1. Larger is safer for unusual pre-tokenizer regexes, slower."
        },
    )
    batch_size: int = field(default=16, metadata={"help": "cover encodings scored in one forward; >= 1"})
    speculate: int = field(
        default=1,
        metadata={
            "help": "when a forward is needed, also score the covers the next bytes need if the text continues "
            "like the N most probable covers running past its end (0 = off); a speed setting, results are unchanged"
        },
    )
    start_token_id: int | None = field(
        default=None,
        metadata={
            "help": "token the model is conditioned on before the text when the text has no leading special token; "
            "None uses the tokenizer's bos token, else its eos token (the GPT-2 document separator convention)"
        },
    )
    check_tokenizer: bool = field(
        default=True,
        metadata={
            "help": "refuse a tokenizer that does not belong to the model: its ids must fit the model's output rows "
            "(with at most a few percent of padding rows) and, with one small forward over a fixed text, the model "
            "must not be far more surprised by the tokenizer's encoding than its own confidence predicts "
            "(hf_tokens.generation.byte_level.matching); False skips both"
        },
    )
    shared_checker: bool = field(
        default=True,
        metadata={
            "help": "reuse the canonicality checker (tables and memo; tokenizer-only) of other byte-level LMs on a "
            "tokenizer with the same content; False builds a private one (a cold start, e.g. for benchmarks)"
        },
    )
    use_shortcut: bool = field(
        default=True,
        metadata={
            "help": "decide tokens that start a new pre-token, and letters after a word, from per-token tables "
            "(exact for the GPT-2 / Llama-3 / Qwen / SmolLM2 regexes; False re-encodes them, slower)"
        },
    )
    use_pretoken_cache: bool = field(
        default=True,
        metadata={
            "help": "key the validity memo by the text's last pre-token (byte-level BPE; exact under the same "
            "regexes) rather than by the whole cover; False re-checks every new cover, slower"
        },
    )

    def __post_init__(self) -> None:
        if not isinstance(self.validity_tail, (int, float)) or not 0.0 <= float(self.validity_tail) <= 1.0:
            raise ValueError(f"validity_tail must be a float in [0, 1], got {self.validity_tail!r}")
        if not isinstance(self.anchor_pretokens, int) or self.anchor_pretokens < 1:
            raise ValueError(f"anchor_pretokens must be an int >= 1, got {self.anchor_pretokens!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if not isinstance(self.speculate, int) or isinstance(self.speculate, bool) or self.speculate < 0:
            raise ValueError(f"speculate must be an int >= 0, got {self.speculate!r}")
        for name in ("check_tokenizer", "shared_checker", "use_shortcut", "use_pretoken_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.start_token_id is not None and (not isinstance(self.start_token_id, int) or self.start_token_id < 0):
            raise ValueError(f"start_token_id must be None or a token id >= 0, got {self.start_token_id!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
