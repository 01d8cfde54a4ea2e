"""Similarity search: ``sktriplet.neighbors.EmbeddingIndex``."""

import pickle
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktriplet.neighbors import EmbeddingIndex, Neighbors
from sktriplet.neighbors._io import FORMAT_VERSION, HEADER


def _brute_force(X, Q, metric):
    """Float64 distances of every query to every row."""
    X = X.astype(np.float64)
    Q = Q.astype(np.float64)
    if metric == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        return 1.0 - Qn @ Xn.T
    return np.sqrt(((Q[:, None, :] - X[None]) ** 2).sum(-1))


def _clustered(n, dim, seed=0, n_clusters=20):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    X = centres[rng.integers(0, n_clusters, n)] + 0.5 * rng.normal(size=(n, dim))
    return X.astype(np.float32)


@parametrize_with_checks(
    [EmbeddingIndex(), EmbeddingIndex(method="hnsw", random_state=0)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_matches_brute_force(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 12)).astype(np.float32)
    Q = rng.normal(size=(40, 12)).astype(np.float32)
    index = EmbeddingIndex(metric=metric, method="exact").fit(X)
    dist, ind = index.kneighbors(Q, n_neighbors=7)
    D = _brute_force(X, Q, metric)
    expected = np.argsort(D, axis=1)[:, :7]
    np.testing.assert_array_equal(ind, expected)
    np.testing.assert_allclose(dist, np.sort(D, axis=1)[:, :7], atol=1e-5)
    assert dist.dtype == np.float32 and ind.dtype == np.int64
    assert (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_blocks(monkeypatch, metric):
    """Tiny blocks (running top-k across many collection and query blocks) give
    the same answer as one block."""
    from sktriplet.neighbors import _exact

    X = _clustered(300, 6)
    Q = _clustered(50, 6, seed=1)
    expected = EmbeddingIndex(metric=metric).fit(X).kneighbors(Q, 5)
    monkeypatch.setattr(_exact, "_BLOCK_FLOATS", 64)
    monkeypatch.setattr(_exact, "_QUERY_BLOCK", 7)
    got = EmbeddingIndex(metric=metric).fit(X).kneighbors(Q, 5)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_hnsw_recall_at_10(metric):
    X = _clustered(5000, 32)
    Q = _clustered(300, 32, seed=1)
    _, truth = EmbeddingIndex(metric=metric, method="exact").fit(X).kneighbors(Q, 10)
    hnsw = EmbeddingIndex(metric=metric, method="hnsw", random_state=0).fit(X)
    assert hnsw.method_ == "hnsw"
    dist, ind = hnsw.kneighbors(Q, 10)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ind, truth)])
    assert recall >= 0.95
    # Distances are in the index's metric (hnswlib's squared l2 converted).
    D = _brute_force(X, Q, metric)
    np.testing.assert_allclose(
        dist, np.take_along_axis(D, ind, axis=1), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("method", ["exact", "hnsw"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_query_in_collection_returns_itself_first(method, metric):
    X = _clustered(1000, 16)
    index = EmbeddingIndex(metric=metric, method=method, random_state=0).fit(X)
    dist, ind = index.kneighbors(X[:100], 3)
    np.testing.assert_array_equal(ind[:, 0], np.arange(100))
    np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-3)


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_x_none_leaves_each_vector_out(method):
    X = _clustered(400, 8)
    index = EmbeddingIndex(method=method, random_state=0).fit(X)
    dist, ind = index.kneighbors(n_neighbors=4)
    assert ind.shape == (400, 4)
    assert not (ind == np.arange(400)[:, None]).any()
    _, with_self = index.kneighbors(X, 5)
    if method == "exact":
        np.testing.assert_array_equal(ind, with_self[:, 1:])
    with pytest.raises(ValueError, match="399 other indexed vectors"):
        index.kneighbors(n_neighbors=400)
    assert index.kneighbors(n_neighbors=399, return_distance=False).shape == (
        400,
        399,
    )


def test_auto_switches_at_threshold():
    X = _clustered(200, 4)
    assert EmbeddingIndex(exact_threshold=201).fit(X).method_ == "exact"
    index = EmbeddingIndex(exact_threshold=200).fit(X)
    assert index.method_ == "hnsw"
    assert index.hnsw_index_.element_count == 200
    assert EmbeddingIndex(method="exact", exact_threshold=0).fit(X).method_ == "exact"
    assert EmbeddingIndex(method="hnsw").fit(X[:5]).method_ == "hnsw"


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_query_returns_filenames_and_times(method):
    # Segments 0-2 of a.wav near (1, 0), 0-1 of b.wav near (0, 1).
    X = np.array([[1, 0], [1, 0.1], [1, 0.2], [0, 1], [0.1, 1]], dtype=np.float32)
    names = ["a.wav", "a.wav", "a.wav", "b.wav", "b.wav"]
    times = [0.0, 0.96, 1.92, 0.0, 0.96]
    index = EmbeddingIndex(method=method, random_state=0).fit(
        X, filenames=names, times=times
    )
    res = index.query([[1, 0.19], [0.08, 1]], n_neighbors=2)
    assert isinstance(res, Neighbors)
    assert res.indices.tolist() == [[2, 1], [4, 3]]
    assert res.filenames.tolist()[0] == ["a.wav", "a.wav"]
    assert res.filenames.tolist()[1] == ["b.wav", "b.wav"]
    assert res.times.tolist()[0] == [1.92, 0.96]
    np.testing.assert_array_equal(res.times, np.asarray(times)[res.indices])
    dist, ind = index.kneighbors([[1, 0.19], [0.08, 1]], n_neighbors=2)
    np.testing.assert_array_equal(ind, res.indices)
    np.testing.assert_array_equal(dist, res.distances)
    assert index.filenames_.tolist() == ["a.wav", "b.wav"]
    assert index.filenames_[index.file_index_].tolist() == names
    plain = EmbeddingIndex().fit(X).query(X[:1], 1)
    assert plain.filenames is None and plain.times is None


@pytest.mark.parametrize("method", ["exact", "hnsw"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_save_load_round_trip(tmp_path, method, metric):
    X = _clustered(600, 8)
    Q = _clustered(30, 8, seed=1)
    names = np.array([f"clip{i // 3}.wav" for i in range(600)])
    times = np.tile([0.0, 0.96, 1.92], 200)
    index = EmbeddingIndex(
        metric=metric, method=method, M=8, ef_search=40, random_state=0
    ).fit(X, filenames=names, times=times)
    path = index.save(tmp_path / "sub" / "clips.index")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["clips.index"]
    loaded = EmbeddingIndex.load(path)
    assert loaded.get_params() == index.get_params()
    assert loaded.method_ == method and loaded.metric_ == metric
    a, b = index.query(Q, 5), loaded.query(Q, 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.filenames, b.filenames)
    np.testing.assert_array_equal(a.times, b.times)
    # Overwriting is atomic (rename) and leaves no temporary file behind.
    loaded.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["clips.index"]
    with zipfile.ZipFile(path) as zf:
        names_in_zip = set(zf.namelist())
    assert HEADER in names_in_zip
    assert ("hnsw.bin" in names_in_zip) == (method == "hnsw")
    assert not any(name.endswith(".pkl") for name in names_in_zip)


def test_interrupted_save_keeps_old_file(tmp_path, monkeypatch):
    from sktriplet.neighbors import _io

    index = EmbeddingIndex(method="hnsw", random_state=0).fit(_clustered(100, 4))
    path = index.save(tmp_path / "x.index")
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_io.np.lib.format, "write_array", fail)
    with pytest.raises(KeyboardInterrupt):
        index.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.index"]


def test_save_load_random_state_generator(tmp_path):
    X = _clustered(100, 4)
    index = EmbeddingIndex(random_state=np.random.RandomState(0)).fit(X)
    loaded = EmbeddingIndex.load(index.save(tmp_path / "x.index"))
    assert loaded.random_state is None


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_pickle_and_joblib(tmp_path, method):
    X = _clustered(500, 8)
    index = EmbeddingIndex(method=method, random_state=0).fit(
        X, filenames=[f"{i}.wav" for i in range(500)]
    )
    expected = index.query(X[:20], 4)
    for copy in (
        pickle.loads(pickle.dumps(index)),
        joblib.load(joblib.dump(index, tmp_path / "index.joblib")[0]),
    ):
        got = copy.query(X[:20], 4)
        np.testing.assert_array_equal(got.indices, expected.indices)
        np.testing.assert_array_equal(got.distances, expected.distances)
        np.testing.assert_array_equal(got.filenames, expected.filenames)


def test_hnsw_reproducible_with_random_state():
    X = _clustered(2000, 16)
    a = EmbeddingIndex(method="hnsw", random_state=3).fit(X).kneighbors(X[:50], 5)
    b = EmbeddingIndex(method="hnsw", random_state=3).fit(X).kneighbors(X[:50], 5)
    np.testing.assert_array_equal(a[1], b[1])


def test_ef_search_is_read_at_query_time():
    X = _clustered(2000, 16)
    index = EmbeddingIndex(method="hnsw", ef_search=10, random_state=0).fit(X)
    index.kneighbors(X[:5], 3)
    assert index.hnsw_index_.ef == 10
    index.set_params(ef_search=64)
    index.kneighbors(X[:5], 3)
    assert index.hnsw_index_.ef == 64
    index.kneighbors(X[:5], 80)  # ef is raised to k when below it
    assert index.hnsw_index_.ef == 80


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_fit_copies_data(metric):
    X = _clustered(50, 3)
    Q = X[:3].copy()
    index = EmbeddingIndex(metric=metric).fit(X)
    before = index.kneighbors(Q, 2)
    X[:] = 0  # later changes to the caller's array do not reach the index
    after = index.kneighbors(Q, 2)
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.shares_memory(index.vectors_, X)


def test_zero_vector_cosine():
    X = np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)
    for method in ("exact", "hnsw"):
        index = EmbeddingIndex(method=method, random_state=0).fit(X)
        dist, ind = index.kneighbors([[0, 0]], 3)
        np.testing.assert_allclose(dist, 1.0, atol=1e-6)


# -- errors -------------------------------------------------------------------------
def test_fit_errors():
    X = _clustered(10, 3)
    with pytest.raises(ValueError, match="NaN"):
        EmbeddingIndex().fit(np.where(np.eye(10, 3) > 0, np.nan, X))
    with pytest.raises(ValueError, match="infinity"):
        EmbeddingIndex().fit(np.where(np.eye(10, 3) > 0, np.inf, X))
    with pytest.raises(ValueError, match="Expected 2D array"):
        EmbeddingIndex().fit(X[0])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        EmbeddingIndex().fit(X[:, :, None])
    with pytest.raises(ValueError, match="one name per row of X \\(10\\)"):
        EmbeddingIndex().fit(X, filenames=["a.wav"] * 9)
    with pytest.raises(ValueError, match="filenames must be strings"):
        EmbeddingIndex().fit(X, filenames=np.arange(10))
    with pytest.raises(ValueError, match="one start time \\(s\\) per row"):
        EmbeddingIndex().fit(X, times=np.zeros(11))
    with pytest.raises(ValueError, match="times contains NaN"):
        EmbeddingIndex().fit(X, times=np.full(10, np.nan))
    with pytest.raises(ValueError, match="times must be numbers"):
        EmbeddingIndex().fit(X, times=["start"] * 10)
    with pytest.raises(ValueError, match="'metric' parameter"):
        EmbeddingIndex(metric="manhattan").fit(X)
    with pytest.raises(ValueError, match="'method' parameter"):
        EmbeddingIndex(method="annoy").fit(X)
    with pytest.raises(ValueError, match="'M' parameter"):
        EmbeddingIndex(M=1).fit(X)


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_query_errors(method):
    X = _clustered(10, 3)
    index = EmbeddingIndex(method=method, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_neighbors=11 is more than the 10 indexed"):
        index.kneighbors(X, 11)
    with pytest.raises(ValueError, match="at least 1"):
        index.kneighbors(X, 0)
    with pytest.raises(ValueError, match="must be an integer"):
        index.kneighbors(X, 2.5)
    with pytest.raises(ValueError, match="X has 4 features, but EmbeddingIndex is "):
        index.kneighbors(np.zeros((2, 4)), 3)
    with pytest.raises(ValueError, match="NaN"):
        index.query(np.full((1, 3), np.nan), 3)
    with pytest.raises(ValueError, match="Expected 2D array"):
        index.kneighbors(X[0], 3)
    assert index.kneighbors(X, 10)[1].shape == (10, 10)


def test_not_fitted():
    with pytest.raises(NotFittedError):
        EmbeddingIndex().kneighbors(np.zeros((1, 2)))
    with pytest.raises(NotFittedError):
        EmbeddingIndex().save("never-written.index")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        EmbeddingIndex.load(tmp_path / "missing.index")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not an EmbeddingIndex file.*zip"):
        EmbeddingIndex.load(text)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="is not an EmbeddingIndex file.*no "):
        EmbeddingIndex.load(other_zip)
    npz = tmp_path / "arrays.npz"
    np.savez(npz, x=np.zeros(3))
    with pytest.raises(ValueError, match="is not an EmbeddingIndex file"):
        EmbeddingIndex.load(npz)
    # A newer format version is refused with advice.
    path = EmbeddingIndex().fit(_clustered(20, 3)).save(tmp_path / "new.index")
    newer = tmp_path / "newer.index"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(newer, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == HEADER:
                data = data.replace(
                    f'"format_version": {FORMAT_VERSION}'.encode(),
                    f'"format_version": {FORMAT_VERSION + 1}'.encode(),
                )
            dst.writestr(name, data)
    with pytest.raises(ValueError, match="format version 2.*Upgrade sktriplet"):
        EmbeddingIndex.load(newer)
    with pytest.raises(IsADirectoryError):
        EmbeddingIndex.load(tmp_path)
    with pytest.raises(IsADirectoryError):
        EmbeddingIndex().fit(_clustered(20, 3)).save(tmp_path)


def test_clone_keeps_params():
    index = EmbeddingIndex(metric="euclidean", M=8, ef_search=30)
    assert clone(index).get_params() == index.get_params()
