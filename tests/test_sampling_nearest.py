"""The paper's two remedies for S3's nearest positive (``NearestPositive``)."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from sktriplet.sampling import (
    GaussianNoise,
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    TemporalProximity,
    TimeFrequencyShift,
    TransformPositive,
    get_sampler,
)

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _other_clip_distances(X, clip):
    """Float64 squared distances, ``inf`` within a clip (the anchor included)."""
    flat = X.reshape(len(X), -1).astype(np.float64)
    d = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    d[clip[:, None] == clip[None, :]] = np.inf
    return d


def _fit(rule, X, clip):
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sampler.fit(X, clip_index=clip)
    return sampler, sampler.unlabeled_rules_[0]


def _sample(sampler, n, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sampler.sample(n, random_state=seed)


# -- remedy 1: a positive drawn at random among the k nearest ---------------------
@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n_clips=st.integers(2, 12),
    seg_per_clip=st.integers(1, 3),
    dim=st.integers(1, 5),
    k=st.integers(1, 5),
)
def test_random_among_k_nearest(seed, n_clips, seg_per_clip, dim, k):
    rng = np.random.default_rng(seed)
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    X = rng.normal(size=(len(clip), 2, dim)).astype(np.float32)
    rule = NearestPositive(n_neighbors=k, method="exact")
    sampler, _ = _fit(rule, X, clip)
    n = len(clip)
    t = _sample(sampler, 150 * n, seed)
    d = _other_clip_distances(X, clip)
    n_other = np.isfinite(d).sum(1)
    assert len(t) == 150 * n  # every anchor has another clip
    assert (clip[t.positive] != clip[t.anchor]).all()
    # always among the exact k nearest of other clips
    kth = np.sort(d, axis=1)[np.arange(n), np.minimum(k, n_other) - 1]
    got = d[t.anchor, t.positive]
    assert (got <= kth[t.anchor] + 1e-4 * (1 + kth[t.anchor])).all()
    # over many draws, every one of them is drawn (so several when k > 1)
    for a in range(n):
        drawn = set(t.positive[t.anchor == a].tolist())
        assert len(drawn) == min(k, n_other[a])
    # reproducible with the sampler's random_state, and it matters
    t2 = _sample(sampler, 150 * n, seed)
    assert np.array_equal(t.positive, t2.positive)
    assert np.array_equal(t.anchor, t2.anchor)


def test_random_among_k_nearest_is_uniform():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [20.0]], dtype=np.float32)
    sampler, rule = _fit(NearestPositive(n_neighbors=3, method="exact"), X, None)
    t = sampler.sample(6 * 3000, random_state=0)
    pos = t.positive[t.anchor == 0]
    assert set(rule.neighbors_[0].tolist()) == {1, 2, 3}
    counts = np.bincount(pos, minlength=6)[[1, 2, 3]]
    assert np.all(np.abs(counts / len(pos) - 1 / 3) < 0.05)
    other = sampler.sample(6 * 3000, random_state=1)
    assert not np.array_equal(other.positive, t.positive)


# -- remedy 2: the nearest neighbour farther than the transformed anchor ----------
_SPECS = {
    "noise": lambda s: GaussianNoise(sigma=s),
    "shift": lambda s: TimeFrequencyShift(max_shift_bins=1),
    "paper": lambda s: True,
    "rule": lambda s: TransformPositive([GaussianNoise(s), TemporalProximity(5.0)]),
}


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n_clips=st.integers(2, 12),
    seg_per_clip=st.integers(1, 3),
    dim=st.integers(1, 4),
    k=st.integers(1, 3),
    n_candidates=st.integers(1, 20),
    sigma=st.floats(0.0, 1.5),
    spec=st.sampled_from(sorted(_SPECS)),
)
def test_nearest_farther_than_transform(seed, n_clips, seg_per_clip, dim, k,
                                        n_candidates, sigma, spec):
    rng = np.random.default_rng(seed)
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    X = rng.normal(size=(len(clip), 3, dim)).astype(np.float32)
    rule = NearestPositive(
        n_neighbors=k,
        method="exact",
        n_candidates=n_candidates,
        farther_than_transform=_SPECS[spec](sigma),
        random_state=seed,
    )
    sampler, fitted = _fit(rule, X, clip)
    n = len(clip)
    d = _other_clip_distances(X, clip)
    d_t = fitted.transform_distances_
    assert d_t.shape == (n,)
    nb = fitted.neighbors_
    assert nb.shape == (n, k)
    sure, maybe = 0, 0  # anchors certainly / possibly without a qualifying one
    for a in range(n):
        order = np.argsort(d[a], kind="stable")
        cand = order[np.isfinite(d[a, order])][: max(n_candidates, k)]
        chosen = nb[a][nb[a] >= 0]
        tol = 1e-5 * (1 + d[a, cand].max())
        assert chosen.size
        assert set(chosen.tolist()) <= set(cand.tolist())
        assert np.all(np.diff(d[a, chosen]) >= -tol)  # sorted
        qual = cand[d[a, cand] > d_t[a] + tol]
        if (d[a, cand] > d_t[a] - tol).any():  # a qualifying candidate exists
            assert (d[a, chosen] > d_t[a] - tol).all()
            if qual.size:  # ... and the first chosen is the closest of them
                assert d[a, chosen[0]] <= d[a, qual].min() + tol
                assert chosen.size >= min(k, qual.size)
        else:  # fallback: the farthest candidate
            sure += 1
            assert chosen.size == 1
            assert d[a, chosen[0]] >= d[a, cand].max() - tol
        maybe += not qual.size
    assert sure <= fitted.n_fallback_ <= maybe
    # triplets stay index-based: the positive is a chosen segment, untransformed
    t = _sample(sampler, 3 * n, seed)
    assert (t.transform == -1).all()
    assert all(p in nb[a] for a, p in zip(t.anchor, t.positive))
    # deterministic with random_state
    _, again = _fit(clone(rule), X, clip)
    assert np.array_equal(again.neighbors_, nb)
    assert np.array_equal(again.transform_distances_, d_t)


def test_zero_noise_keeps_the_plain_nearest():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2, 3)).astype(np.float32)
    clip = np.repeat(np.arange(20), 2)
    _, plain = _fit(NearestPositive(method="exact"), X, clip)
    _, zero = _fit(
        NearestPositive(method="exact", farther_than_transform=GaussianNoise(0.0)),
        X,
        clip,
    )
    assert np.array_equal(zero.transform_distances_, np.zeros(40))
    assert np.array_equal(plain.neighbors_, zero.neighbors_)
    assert zero.n_fallback_ == 0


def test_transform_distance_is_the_input_distance_to_the_transformed_anchor():
    # Two-segment clips: temporal proximity's positive is the clip's other segment.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2, 3)).astype(np.float32)
    clip = np.repeat(np.arange(6), 2)
    rule = NearestPositive(
        method="exact", farther_than_transform=TemporalProximity(max_seconds=1.0)
    )
    _, fitted = _fit(rule, X, clip)
    flat = X.reshape(12, -1).astype(np.float64)
    expected = ((flat - flat[np.arange(12) ^ 1]) ** 2).sum(1)
    np.testing.assert_allclose(fitted.transform_distances_, expected, rtol=1e-6)
    # one-segment clips: no transform possible, so no constraint (plain nearest)
    _, single = _fit(clone(rule), X, None)
    _, plain = _fit(NearestPositive(method="exact"), X, None)
    assert np.isneginf(single.transform_distances_).all()
    assert np.array_equal(single.neighbors_, plain.neighbors_)


def test_fallback_is_the_farthest_candidate_with_a_warning():
    X = np.array([[0.0], [1.0], [3.0], [6.0], [50.0]], dtype=np.float32)
    rule = NearestPositive(
        method="exact",
        n_candidates=2,
        farther_than_transform=GaussianNoise(sigma=1e4),
        random_state=0,
    )
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    with pytest.warns(UserWarning, match="5 of 5 anchors have no candidate farther"):
        sampler.fit(X)
    fitted = sampler.unlabeled_rules_[0]
    assert fitted.n_fallback_ == 5
    # farthest of the 2 nearest candidates, not of all segments
    assert fitted.neighbors_[:, 0].tolist() == [2, 2, 3, 1, 2]
    t = sampler.sample(5, random_state=0)
    assert len(t) == 5 and t.n_skipped == 0


def test_pca_search_is_reranked_in_input_space():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2, 8)).astype(np.float32)
    clip = np.repeat(np.arange(30), 2)
    rule = NearestPositive(
        method="exact",
        n_components=2,
        n_neighbors=2,
        farther_than_transform=GaussianNoise(0.3),
        random_state=0,
    )
    _, fitted = _fit(rule, X, clip)
    d = _other_clip_distances(X, clip)
    nb = fitted.neighbors_
    got = np.take_along_axis(d, nb, axis=1)
    assert (nb >= 0).all() and (clip[nb] != clip[:, None]).all()
    assert (np.diff(got, axis=1) >= -1e-4).all()
    assert fitted.n_fallback_ == 0
    assert (got > fitted.transform_distances_[:, None] - 1e-4).all()


def test_hnsw_search_with_farther_than_transform():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2, 10)).astype(np.float32)
    clip = np.repeat(np.arange(150), 2)
    rule = NearestPositive(
        method="hnsw", farther_than_transform=True, n_candidates=24, random_state=0
    )
    _, fitted = _fit(rule, X, clip)
    assert fitted.method_ == "hnsw"
    d = _other_clip_distances(X, clip)
    got = d[np.arange(300), fitted.neighbors_[:, 0]]
    farther = got > fitted.transform_distances_ - 1e-4
    assert farther.sum() >= 300 - fitted.n_fallback_


# -- parameter routing through get_sampler("s3", ...) -----------------------------
def test_get_sampler_s3_routes_both_remedies():
    s = get_sampler(
        "s3",
        unlabeled__positive__n_neighbors=3,
        unlabeled__positive__farther_than_transform=True,
        unlabeled__positive__n_candidates=32,
    )
    rule = s.unlabeled[0]
    assert (rule.n_neighbors, rule.farther_than_transform, rule.n_candidates) == (
        3, True, 32
    )
    params = s.get_params()
    assert params["unlabeled__positive__farther_than_transform"] is True
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 4, 3)).astype(np.float32)
    clip = np.repeat(np.arange(12), 4)
    y = np.where(np.arange(12) < 4, np.arange(12) % 2, -1)[clip]
    s.set_params(unlabeled__positive__random_state=0)
    with warnings.catch_warnings():  # a few fallbacks on such tiny segments
        warnings.simplefilter("ignore", UserWarning)
        s.fit(X, y, clip_index=clip, start_time=np.tile(np.arange(4.0), 12))
    fitted = s.unlabeled_rules_[0]
    assert fitted.transform_distances_.shape == ((y == -1).sum(),)
    t = s.sample(40, labeled_ratio=0.5, random_state=0)
    unl = ~t.labeled
    assert (t.transform[unl] == -1).all()
    assert (clip[t.positive[unl]] != clip[t.anchor[unl]]).all()


def test_nested_transform_parameters_route():
    spec = TransformPositive([GaussianNoise(0.5), TimeFrequencyShift(10)])
    s = get_sampler("s3", unlabeled__positive__farther_than_transform=spec)
    key = "unlabeled__positive__farther_than_transform__weights"
    assert key in s.get_params()
    s.set_params(**{key: [1.0, 0.0]})
    assert s.unlabeled[0].farther_than_transform.weights == [1.0, 0.0]
    assert clone(s).get_params()[key] == [1.0, 0.0]
    s = get_sampler(
        "s3",
        unlabeled__positive__farther_than_transform=GaussianNoise(0.5),
        unlabeled__positive__farther_than_transform__sigma=0.2,
    )
    assert s.unlabeled[0].farther_than_transform.sigma == 0.2


@pytest.mark.parametrize(
    "spec, err, match",
    [
        ("yes", ValueError, "farther_than_transform"),
        ([GaussianNoise(), "shift"], TypeError, "Transform instances"),
        ([], ValueError, "at least one transform"),
    ],
)
def test_bad_farther_than_transform(spec, err, match):
    X = np.random.default_rng(0).normal(size=(6, 2, 2)).astype(np.float32)
    s = get_sampler("s3", unlabeled__positive__farther_than_transform=spec)
    with pytest.raises(err, match=match):
        s.fit(X, [-1] * 6)
