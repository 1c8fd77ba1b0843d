"""The shortening as a config, and the paper's budget-limited search for it.

:class:`LongTextHacksConfig` names one shortening (removal transforms + truncation split) for a token budget;
:meth:`LongTextHacksConfig.shorten` applies it. :func:`search_shortening` chooses one on a validation split under a
fixed number of trials, the way "Simple Hack for Transformers against Heavy Long-Text Classification" (Mutasodirin
et al., arXiv 2403.12563) tunes on a time-limited GPU service: few trials, run one after another, each one's score
written to a log at once so the search can stop at any time and resume later where it stopped (the paper's
"gradual" procedure that needs no long-running optimisation library).

The order of trials: (1) the plain first-``budget``-tokens baseline; (2) the truncation splits (``tail``, then
``head+tail`` at each of ``head_fractions``) without removals, keeping the best; (3) greedy forward selection of the
removal transforms: each round tries adding each unused transform to the best set so far and keeps the best
addition if it beats the current score, until no addition helps or the trials run out. A candidate must beat the
incumbent strictly, so ties keep the simpler shortening.

Deviation from the paper: the paper tunes training hyper-parameters as well and its exact schedule of trials is not
reproduced (only the idea of a small, resumable, budget-limited search is): here the search is over the shortening
only, the training settings stay fixed, and the order above is this library's.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hf_tokens.pipelines.long_text_hacks.transforms import (
    ENGLISH_STOPWORDS,
    REMOVALS,
    TRUNCATIONS,
    check_budget,
    check_fraction,
    check_removals,
    shorten,
)


@dataclass
class LongTextHacksConfig:
    """One shortening of Mutasodirin et al. (2024): which words to remove, then how to cut to the token budget."""

    removals: tuple[str, ...] = field(
        default=(), metadata={"help": f"removal transforms, applied in this order: {list(REMOVALS)}"}
    )
    truncation: str = field(default="head", metadata={"help": f"one of {list(TRUNCATIONS)}"})
    head_fraction: float = field(
        default=0.5, metadata={"help": "for 'head+tail': share of the budget given to the first tokens, in [0, 1]"}
    )
    min_count: int = field(
        default=2, metadata={"help": "for 'rare': words seen fewer times than this in the training split go"}
    )

    def __post_init__(self) -> None:
        self.removals = check_removals(self.removals)
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"unknown truncation {self.truncation!r}; known: {list(TRUNCATIONS)}")
        self.head_fraction = check_fraction(self.head_fraction)
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ValueError(f"min_count must be an int >= 1, got {self.min_count!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["removals"] = list(self.removals)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LongTextHacksConfig:
        return cls(**{**data, "removals": tuple(data.get("removals", ()))})

    @property
    def name(self) -> str:
        cut = f"head+tail@{self.head_fraction:g}" if self.truncation == "head+tail" else self.truncation
        return "+".join([*self.removals, cut])

    def shorten(
        self,
        text: str,
        tokenizer: Any,
        budget: int,
        *,
        counts: Counter[str] | None = None,
        stopwords: frozenset[str] = ENGLISH_STOPWORDS,
    ) -> str:
        return shorten(
            text,
            tokenizer,
            budget,
            removals=self.removals,
            truncation=self.truncation,
            head_fraction=self.head_fraction,
            counts=counts,
            min_count=self.min_count,
            stopwords=stopwords,
        )


@dataclass
class SearchResult:
    """The chosen shortening, its validation score and every trial in order (``{"config", "score"}``)."""

    best: LongTextHacksConfig
    score: float
    trials: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict(), "score": self.score, "trials": self.trials}


def _candidates(
    base: LongTextHacksConfig, head_fractions: Sequence[float]
) -> tuple[list[LongTextHacksConfig], Callable[[LongTextHacksConfig], list[LongTextHacksConfig]]]:
    splits = [LongTextHacksConfig(truncation="tail", min_count=base.min_count)]
    splits += [
        LongTextHacksConfig(truncation="head+tail", head_fraction=f, min_count=base.min_count) for f in head_fractions
    ]

    def additions(best: LongTextHacksConfig) -> list[LongTextHacksConfig]:
        return [
            LongTextHacksConfig.from_dict({**best.to_dict(), "removals": (*best.removals, r)})
            for r in REMOVALS
            if r not in best.removals
        ]

    return splits, additions


def search_shortening(
    evaluate: Callable[[LongTextHacksConfig], float],
    budget: int,
    *,
    max_trials: int = 8,
    head_fractions: Sequence[float] = (0.5,),
    min_count: int = 2,
    log_path: str | Path | None = None,
    time_budget_s: float | None = None,
) -> SearchResult:
    """Choose the shortening for ``budget`` tokens: ``evaluate(config)`` trains (or scores) with that shortening and
    returns its validation score (higher is better); at most ``max_trials`` calls. With ``log_path`` every score is
    appended to a JSON log as soon as it is known, and a config already in the log is not evaluated again (a
    resumed search replays the same decisions and continues where it stopped). With ``time_budget_s`` no new trial
    starts once the evaluations of this call have taken that long (the first trial always runs)."""
    check_budget(budget)
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"max_trials must be an int >= 1, got {max_trials!r}")
    for f in head_fractions:
        check_fraction(f)
    path = Path(log_path) if log_path is not None else None
    done: dict[str, float] = {}
    if path is not None and path.is_file():
        logged = json.loads(path.read_text())
        if logged.get("budget") != budget:
            raise ValueError(f"{path} is the log of a search at budget {logged.get('budget')}, not {budget}")
        done = {json.dumps(t["config"], sort_keys=True): t["score"] for t in logged["trials"]}
    if time_budget_s is not None and (isinstance(time_budget_s, bool) or not time_budget_s > 0):
        raise ValueError(f"time_budget_s must be a number > 0 (seconds), got {time_budget_s!r}")
    trials: list[dict[str, Any]] = []
    spent = [0.0]

    def score(config: LongTextHacksConfig) -> float | None:
        if len(trials) >= max_trials or (trials and time_budget_s is not None and spent[0] >= time_budget_s):
            return None
        key = json.dumps(config.to_dict(), sort_keys=True)
        if key in done:
            value = done[key]
        else:
            start = time.perf_counter()
            value = float(evaluate(config))
            spent[0] += time.perf_counter() - start
        trials.append({"config": config.to_dict(), "name": config.name, "score": value})
        if path is not None:
            path.write_text(json.dumps({"budget": budget, "trials": trials}, indent=1))
        return value

    best = LongTextHacksConfig(min_count=min_count)
    best_score = score(best)
    assert best_score is not None  # max_trials >= 1
    splits, additions = _candidates(best, head_fractions)
    for config in splits:
        value = score(config)
        if value is None:
            break
        if value > best_score:
            best, best_score = config, value
    while len(trials) < max_trials and (time_budget_s is None or spent[0] < time_budget_s):
        round_best: tuple[LongTextHacksConfig, float] | None = None
        for config in additions(best):
            value = score(config)
            if value is None:
                break
            if value > best_score and (round_best is None or value > round_best[1]):
                round_best = (config, value)
        if round_best is None:
            break
        best, best_score = round_best
    return SearchResult(best, best_score, trials)
