"""Property-based tests (hypothesis) of the sampling invariants."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sktriplet.nn import semihard_negatives
from sktriplet.sampling import (
    GaussianNoise,
    LabelNegative,
    LabelPositive,
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    TemporalProximity,
    TransformPositive,
    get_sampler,
)

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _random_multilabel(seed, n_clips, seg_per_clip, n_classes, p_unlabeled):
    """Weakly labelled clips: multi-label rows, some all -1, some all 0."""
    rng = np.random.default_rng(seed)
    Yc = (rng.random((n_clips, n_classes)) < 0.35).astype(np.int8)
    Yc[rng.random(n_clips) < p_unlabeled] = -1
    sizes = rng.integers(1, seg_per_clip + 1, size=n_clips)
    clip = np.repeat(np.arange(n_clips), sizes)
    start = np.concatenate([np.arange(s) * rng.uniform(0.5, 3.0) for s in sizes])
    X = rng.normal(size=(len(clip), 3, 2)).astype(np.float32)
    return X, Yc[clip], clip, start


def _label_sets(Y):
    labeled = ~(Y == -1).all(1)
    sets = np.concatenate([Y == 1, (labeled & ~(Y == 1).any(1))[:, None]], 1)
    return sets


def _sample_quiet(sampler, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sampler.sample(*args, **kwargs)


data_params = {
    "seed": st.integers(0, 2**31 - 1),
    "n_clips": st.integers(3, 15),
    "seg_per_clip": st.integers(1, 4),
    "n_classes": st.integers(2, 5),
    "p_unlabeled": st.floats(0.0, 0.7),
}


@SETTINGS
@given(**data_params, exclude=st.booleans())
def test_label_rules_invariants(seed, n_clips, seg_per_clip, n_classes, p_unlabeled,
                                exclude):
    X, Y, clip, start = _random_multilabel(
        seed, n_clips, seg_per_clip, n_classes, p_unlabeled
    )
    sampler = RuleSampler(
        labeled=(LabelPositive(exclude_same_clip=exclude), LabelNegative())
    )
    try:
        sampler.fit(X, Y, clip_index=clip)
    except ValueError as exc:  # no labelled segment, or no disjoint label sets
        assert "labelled" in str(exc) or "No label negative" in str(exc)
        return
    t = _sample_quiet(sampler, 25, random_state=seed)
    sets = _label_sets(Y)
    assert len(t) + t.n_skipped == 25
    assert t.labeled.all()
    assert ~(Y[t.anchor] == -1).all(1).any()
    # positive shares a label, is not the anchor (nor its clip when excluded)
    assert (sets[t.anchor] & sets[t.positive]).any(1).all()
    assert (t.positive != t.anchor).all()
    if exclude:
        assert (clip[t.positive] != clip[t.anchor]).all()
    # negative is labelled and shares none
    assert ~(Y[t.negative] == -1).all(1).any()
    assert not (sets[t.anchor] & sets[t.negative]).any(1).any()


@SETTINGS
@given(**data_params)
def test_skipped_anchors_really_had_no_candidate(seed, n_clips, seg_per_clip,
                                                 n_classes, p_unlabeled):
    X, Y, clip, start = _random_multilabel(
        seed, n_clips, seg_per_clip, n_classes, p_unlabeled
    )
    sampler = RuleSampler(labeled=(LabelPositive(), SemiHardNegative()))
    try:
        sampler.fit(X, Y, clip_index=clip)
    except ValueError:
        return
    labeled = np.flatnonzero(~(Y == -1).all(1))
    t = _sample_quiet(sampler, len(labeled), random_state=0)  # each once
    sets = _label_sets(Y)
    has_pos = ((sets.astype(int) @ sets.T.astype(int)) > 0) & (
        clip[:, None] != clip[None, :]
    )
    expected_skips = int((~has_pos[labeled].any(1)).sum())
    assert t.n_skipped == expected_skips


@SETTINGS
@given(**data_params, max_seconds=st.floats(0.0, 6.0))
def test_temporal_proximity_invariants(seed, n_clips, seg_per_clip, n_classes,
                                       p_unlabeled, max_seconds):
    X, Y, clip, start = _random_multilabel(
        seed, n_clips, seg_per_clip, n_classes, p_unlabeled
    )
    rule = TransformPositive(transforms=[TemporalProximity(max_seconds)])
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    sampler.fit(X, clip_index=clip, start_time=start)
    t = _sample_quiet(sampler, 30, random_state=seed)
    assert (t.transform == -1).all()
    assert (clip[t.positive] == clip[t.anchor]).all()
    assert (t.positive != t.anchor).all()
    assert (np.abs(start[t.positive] - start[t.anchor]) <= max_seconds + 1e-6).all()
    # skipped anchors had no such segment
    dt = np.abs(start[:, None] - start[None, :]) <= max_seconds + 1e-6
    ok = dt & (clip[:, None] == clip[None, :]) & ~np.eye(len(clip), dtype=bool)
    if ok.any(1).all():
        assert t.n_skipped == 0


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n_lab=st.integers(1, 60),
    n=st.integers(1, 80),
    ratio=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_labeled_ratio_counts_are_exact(seed, n_lab, n, ratio):
    rng = np.random.default_rng(seed)
    n_seg = n_lab + 20
    X = rng.normal(size=(n_seg, 2, 2)).astype(np.float32)
    # two classes, every segment its own clip: label rules always succeed
    y = np.full(n_seg, -1)
    y[:n_lab] = np.arange(n_lab) % 2
    if n_lab < 4:
        y[:4] = [0, 1, 0, 1]
        n_lab = 4
    sampler = RuleSampler(
        labeled=(LabelPositive(), LabelNegative()),
        unlabeled=(TransformPositive(transforms=[GaussianNoise()]), SemiHardNegative()),
    ).fit(X, y)
    t = sampler.sample(n, labeled_ratio=ratio, random_state=seed)
    expected = round((n_lab / n_seg if ratio is None else ratio) * n)
    assert t.n_skipped == 0
    assert int(t.labeled.sum()) == expected
    assert int((~t.labeled).sum()) == n - expected
    assert (y[t.anchor[t.labeled]] >= 0).all()
    assert (y[t.anchor[~t.labeled]] == -1).all()


@SETTINGS
@given(**data_params, name=st.sampled_from(["s1", "s2", "s4", "s5"]))
def test_same_random_state_same_triplets(seed, n_clips, seg_per_clip, n_classes,
                                         p_unlabeled, name):
    X, Y, clip, start = _random_multilabel(
        seed, n_clips, seg_per_clip, n_classes, p_unlabeled
    )
    try:
        a = get_sampler(name).fit(X, Y, clip_index=clip, start_time=start)
    except ValueError:
        return
    b = get_sampler(name).fit(X, Y, clip_index=clip, start_time=start)
    ta = _sample_quiet(a, 20, random_state=seed)
    tb = _sample_quiet(b, 20, random_state=seed)
    for field in ("anchor", "labeled", "positive", "transform", "time_shift",
                  "freq_shift", "seed", "alpha", "negative"):
        np.testing.assert_array_equal(getattr(ta, field), getattr(tb, field))
    assert ta.n_skipped == tb.n_skipped


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n_clips=st.integers(2, 30),
    seg_per_clip=st.integers(1, 4),
    dim=st.integers(1, 6),
    exclude=st.booleans(),
)
def test_exact_nearest_positive_is_the_nearest(seed, n_clips, seg_per_clip, dim,
                                                exclude):
    rng = np.random.default_rng(seed)
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    X = rng.normal(size=(len(clip), 2, dim)).astype(np.float32)
    rule = NearestPositive(exclude_same_clip=exclude, method="exact")
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    sampler.fit(X, clip_index=clip)
    t = _sample_quiet(sampler, len(clip), random_state=seed)
    flat = X.reshape(len(X), -1).astype(np.float64)
    d = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    d[np.arange(len(X)), np.arange(len(X))] = np.inf
    if exclude:
        d[clip[:, None] == clip[None, :]] = np.inf
    assert (t.positive != t.anchor).all()
    if exclude:
        assert (clip[t.positive] != clip[t.anchor]).all()
    got = d[t.anchor, t.positive]
    best = d[t.anchor].min(1)
    assert np.allclose(got, best, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    b=st.integers(1, 12),
    k=st.integers(1, 30),
    dim=st.integers(1, 8),
    p_valid=st.floats(0.0, 1.0),
)
def test_semihard_negative_rule(seed, b, k, dim, p_valid):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(b, dim))
    p = a + rng.normal(scale=rng.uniform(0.1, 2.0), size=(b, dim))
    c = rng.normal(size=(k, dim))
    valid = rng.random((b, k)) < p_valid
    neg, found = semihard_negatives(
        torch.tensor(a, dtype=torch.float32),
        torch.tensor(p, dtype=torch.float32),
        torch.tensor(c, dtype=torch.float32),
        torch.tensor(valid),
    )
    neg, found = neg.numpy(), found.numpy()
    d_ap = ((a - p) ** 2).sum(1)
    d_an = ((a[:, None] - c[None]) ** 2).sum(-1)
    tol = 1e-4 * (1 + d_an.max())
    for i in range(b):
        v = np.flatnonzero(valid[i])
        if not v.size:
            assert neg[i] == -1 and not found[i]
            continue
        assert valid[i, neg[i]]
        farther = v[d_an[i, v] > d_ap[i] + tol]
        if farther.size:  # a semi-hard candidate exists: it is found ...
            assert found[i]
            assert d_an[i, neg[i]] > d_ap[i] - tol
            # ... and it is the closest candidate farther than the positive
            assert d_an[i, neg[i]] <= d_an[i, farther].min() + tol
        elif not found[i]:  # fallback: the farthest valid candidate
            assert d_an[i, neg[i]] >= d_an[i, v].max() - tol


@pytest.mark.parametrize("exclude", [True, False])
def test_hnsw_nearest_positive_recall(exclude):
    rng = np.random.default_rng(0)
    n_clips, per = 200, 5
    centers = rng.normal(size=(60, 200))
    clip = np.repeat(np.arange(n_clips), per)
    X = (centers[rng.integers(0, 60, len(clip))]
         + 0.5 * rng.normal(size=(len(clip), 200))).astype(np.float32)
    X = X.reshape(len(X), 4, 50)
    rule = NearestPositive(exclude_same_clip=exclude, method="hnsw", random_state=0)
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    sampler.fit(X, clip_index=clip)
    assert sampler.unlabeled_rules_[0].method_ == "hnsw"
    t = sampler.sample(len(X), random_state=0)
    flat = X.reshape(len(X), -1).astype(np.float64)
    sq = (flat**2).sum(1)
    d = sq[:, None] + sq[None] - 2 * flat @ flat.T
    np.fill_diagonal(d, np.inf)
    if exclude:
        d[clip[:, None] == clip[None, :]] = np.inf
        assert (clip[t.positive] != clip[t.anchor]).all()
    assert (t.positive != t.anchor).all()
    recall = np.mean(d[t.anchor].argmin(1) == t.positive)
    assert recall >= 0.95
