"""ROC metrics of hf_tokens.analysis.detection_scores against hand-counted values, and their input checks."""

from __future__ import annotations

import pytest

from hf_tokens.analysis.detection_scores import auroc, tpr_at_fpr


def test_auroc_counts_pairs_and_half_ties():
    assert auroc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert auroc([0.1, 0.9], [1, 0]) == 0.0
    # positives {3, 1}, negatives {2, 1}: pairs won 3>2, 3>1, tie 1=1 (half), 1<2 -> 2.5 / 4
    assert auroc([3, 1, 2, 1], [1, 1, 0, 0]) == pytest.approx(0.625)


def test_tpr_at_fpr_takes_the_strictest_allowed_threshold():
    neg = list(range(100))  # scores 0..99
    pos = [98.5, 99.5, 50.5, 200]
    scores, labels = neg + pos, [0] * 100 + [1] * 4
    assert tpr_at_fpr(scores, labels, 0.005) == pytest.approx(2 / 4)  # no negative may pass: threshold 99
    assert tpr_at_fpr(scores, labels, 0.01) == pytest.approx(3 / 4)  # one negative (99) may pass: threshold 98
    assert tpr_at_fpr(scores, labels, 0.6) == 1.0  # threshold 39


def test_metric_errors():
    with pytest.raises(ValueError, match="positive and one negative"):
        auroc([1.0, 2.0], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        auroc([1.0], [1, 0])
    with pytest.raises(ValueError, match="fpr"):
        tpr_at_fpr([1.0, 0.0], [1, 0], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        auroc([float("nan"), 0.0], [1, 0])
