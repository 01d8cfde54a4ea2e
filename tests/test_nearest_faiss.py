"""``NearestPositive(method="faiss")``: the faiss backend of the S3 search."""

import importlib.util
import sys

import numpy as np
import pytest

from sktriplet.sampling import NearestPositive, RuleSampler, SemiHardNegative, _knn
from sktriplet.sampling._knn import (
    faiss_candidates,
    faiss_index,
    nearest_neighbors,
)

needs_faiss = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)


def _clustered(n_clips=300, seg_per_clip=5, dim=16, seed=0):
    """Segments around their clip, clips around 20 classes; returns (X, clip)."""
    rng = np.random.default_rng(seed)
    classes = 3.0 * rng.standard_normal((20, dim))
    clips = classes[rng.integers(0, 20, n_clips)] + rng.standard_normal((n_clips, dim))
    X = np.repeat(clips, seg_per_clip, axis=0)
    X += 0.5 * rng.standard_normal(X.shape)
    return X.astype(np.float32), np.repeat(np.arange(n_clips), seg_per_clip)


def _fit(rule, X, clip):
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative()))
    sampler.fit(X, clip_index=clip)
    return sampler.unlabeled_rules_[0]


def _recall_at_1(X, clip, neighbors):
    """Share of rows whose neighbour is at the exact nearest other-clip distance."""
    flat = X.reshape(len(X), -1).astype(np.float64)
    sq = (flat**2).sum(1)
    d = sq[:, None] + sq[None] - 2 * flat @ flat.T
    d[clip[:, None] == clip[None, :]] = np.inf
    best = d.min(1)
    got = d[np.arange(len(X)), neighbors]
    return np.mean(got <= best * (1 + 1e-5) + 1e-6)


def _check_contract(cand, dist, query, groups):
    valid = cand >= 0
    # Padding only at the end of a row, with infinite distances.
    assert (np.diff(valid.astype(int), axis=1) <= 0).all()
    assert np.isinf(dist[~valid]).all() and np.isfinite(dist[valid]).all()
    assert (np.sort(dist, axis=1) == dist).all()
    assert (
        groups[cand[valid]]
        != np.broadcast_to(groups[query][:, None], cand.shape)[valid]
    ).all()


@needs_faiss
@pytest.mark.parametrize("dim", [16, 160])  # 160 > SEARCH_COMPONENTS: PCA first
def test_faiss_recall_against_exact(dim):
    X, clip = _clustered(n_clips=200, dim=dim)
    exact = _fit(NearestPositive(method="exact"), X, clip)
    rule = _fit(NearestPositive(method="faiss", random_state=0), X, clip)
    assert rule.method_ == "faiss"
    assert rule.neighbors_.shape == (len(X), 1)
    assert _recall_at_1(X, clip, exact.neighbors_[:, 0]) == 1.0
    assert _recall_at_1(X, clip, rule.neighbors_[:, 0]) >= 0.95


@needs_faiss
def test_faiss_excludes_the_anchors_clip():
    # Segments of a clip are near copies: without the exclusion they would be the
    # nearest neighbours of each other.
    X, clip = _clustered(n_clips=200, seg_per_clip=6)
    X = np.repeat(X[::6], 6, axis=0) + 1e-3 * X
    rule = _fit(NearestPositive(n_neighbors=3, method="faiss", random_state=0), X, clip)
    nb = rule.neighbors_
    assert (nb >= 0).all()
    assert (clip[nb] != clip[:, None]).all()
    same = _fit(
        NearestPositive(method="faiss", exclude_same_clip=False, random_state=0),
        X,
        clip,
    )
    assert (same.neighbors_[:, 0] != np.arange(len(X))).all()
    assert np.mean(clip[same.neighbors_[:, 0]] == clip) > 0.95


@needs_faiss
@pytest.mark.parametrize("product_quantized", [False, True])
def test_faiss_candidates_contract(product_quantized):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1200, 16)).astype(np.float32)
    # One big group of 1,000 rows: its queries have only 200 other rows, and the
    # query asks for 16 + 1,000 hits to find 16 of them.
    groups = np.concatenate([np.zeros(1000, int), 1 + np.arange(200)])
    query = np.arange(0, 1200, 7)
    index = faiss_index(
        X, groups, 16, random_state=0, product_quantized=product_quantized
    )
    assert type(index).__name__ == (
        "IndexIVFPQ" if product_quantized else "IndexIVFFlat"
    )
    cand, dist = faiss_candidates(X, query, 16, groups, index=index)
    assert cand.shape == dist.shape == (len(query), 16)
    _check_contract(cand, dist, query, groups)
    # The distances are exact squared distances (PQ ones are recomputed).
    valid = cand >= 0
    diff = X[cand[valid]] - X[np.broadcast_to(query[:, None], cand.shape)[valid]]
    np.testing.assert_allclose(dist[valid], (diff**2).sum(1), rtol=1e-4, atol=1e-4)
    # Row 5 is alone in its group; every other row has row 5 as only candidate.
    alone = np.zeros(1200, int)
    alone[5] = 1
    cand, dist = faiss_candidates(X, np.array([5, 6]), 4, alone, random_state=0)
    _check_contract(cand, dist, np.array([5, 6]), alone)
    assert (cand[0] >= 0).all()
    assert (cand[1, 1:] == -1).all() and cand[1, 0] in (-1, 5)


@needs_faiss
def test_faiss_product_quantized_by_size(monkeypatch):
    X, clip = _clustered(n_clips=400)
    flat = faiss_index(X, clip, 16, random_state=0)
    assert type(flat).__name__ == "IndexIVFFlat"
    monkeypatch.setattr(_knn, "FAISS_FLAT_MAX_BYTES", X.nbytes - 1)
    pq = faiss_index(X, clip, 16, random_state=0)
    assert type(pq).__name__ == "IndexIVFPQ"
    nb, _, method = nearest_neighbors(X, 1, groups=clip, method="faiss", random_state=0)
    assert method == "faiss"
    assert _recall_at_1(X, clip, nb[:, 0]) >= 0.95


@needs_faiss
def test_faiss_nprobe_is_tuned_on_hard_data():
    # Unclustered Gaussian rows: one probed list finds the nearest row rarely.
    X = np.random.default_rng(1).standard_normal((3000, 16)).astype(np.float32)
    groups = np.arange(3000) // 3
    index = faiss_index(X, groups, 16, random_state=0)
    assert index.nprobe > 1
    nb, _, _ = nearest_neighbors(X, 1, groups=groups, method="faiss", random_state=0)
    assert _recall_at_1(X, groups, nb[:, 0]) >= 0.95


@needs_faiss
def test_faiss_deterministic_given_random_state():
    import faiss

    X, clip = _clustered(n_clips=400)
    first = faiss_index(X, clip, 16, random_state=0)
    again = faiss_index(X, clip, 16, random_state=0)
    other = faiss_index(X, clip, 16, random_state=1)
    # Every row is a training row here: only the k-means seed can tell them apart.
    assert first.nlist * 50 >= len(X)
    c0, c1, c2 = (i.quantizer.reconstruct_n(0, i.nlist) for i in (first, again, other))
    assert np.array_equal(c0, c1) and not np.array_equal(c0, c2)
    results = []
    n_threads = faiss.omp_get_max_threads()
    try:
        for threads in (1, 2):  # the result does not depend on faiss's threads
            faiss.omp_set_num_threads(threads)
            for _ in range(2):
                results.append(
                    _fit(
                        NearestPositive(n_neighbors=4, method="faiss", random_state=5),
                        X,
                        clip,
                    ).neighbors_
                )
    finally:
        faiss.omp_set_num_threads(n_threads)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_faiss_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail

    def no_projection(*args, **kwargs):
        raise AssertionError("projected before looking for faiss")

    monkeypatch.setattr(_knn, "pca_project", no_projection)
    X, clip = _clustered(n_clips=20, dim=160)  # 160 > SEARCH_COMPONENTS
    with pytest.raises(ImportError, match=r'pip install "sktriplet\[faiss\]"'):
        _fit(NearestPositive(method="faiss"), X, clip)
    # The other methods do not need it.
    assert _fit(NearestPositive(method="exact"), X, clip).method_ == "exact"


def test_method_validation():
    X, clip = _clustered(n_clips=20)
    with pytest.raises(ValueError, match="'method' parameter"):
        _fit(NearestPositive(method="annoy"), X, clip)
    with pytest.raises(ValueError, match="method must be"):
        nearest_neighbors(X, 1, groups=clip, method="annoy")
