"""``EmbeddingIndex``: which clips (or segments) of a collection sound like this one."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..utils._sklearn_compat import Interval, StrOptions, validate_data
from ..utils._threads import torch_threads
from ._exact import exact_kneighbors, unit_rows
from ._hnsw import build_hnsw, hnsw_kneighbors
from ._io import read_index_file, write_index_file

#: Collection size from which ``method="auto"`` builds an hnswlib graph.
EXACT_THRESHOLD = 100_000


@dataclass(frozen=True, eq=False)
class Neighbors:
    """Nearest indexed vectors of each query, with their file names and times.

    Returned by :meth:`EmbeddingIndex.query`; every field is an array of shape
    ``(n_queries, n_neighbors)``, sorted by distance along each row.

    Attributes
    ----------
    distances : ndarray of shape (n_queries, n_neighbors), float32
        ``1 - cos`` (``metric="cosine"``) or Euclidean distances.
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Rows of the indexed ``X``.
    filenames : ndarray of shape (n_queries, n_neighbors) of str or None
        File of each neighbour; None when the index was fitted without
        ``filenames``.
    times : ndarray of shape (n_queries, n_neighbors), float64, or None
        Start time (s) of each neighbour; None when fitted without ``times``.
    """

    distances: np.ndarray
    indices: np.ndarray
    filenames: np.ndarray | None = None
    times: np.ndarray | None = None


def _check_metadata(filenames, times, n: int):
    """``(distinct_filenames, file_index, times)`` as arrays (None when absent)."""
    names = index = None
    if filenames is not None:
        filenames = np.asarray(filenames)
        if filenames.ndim != 1 or len(filenames) != n:
            raise ValueError(
                f"filenames must hold one name per row of X ({n}); got shape "
                f"{filenames.shape}."
            )
        if filenames.dtype.kind not in "USO":
            raise ValueError(
                f"filenames must be strings; got an array of dtype {filenames.dtype}."
            )
        names, index = np.unique(filenames.astype(str), return_inverse=True)
        index = index.astype(np.int64).ravel()
    if times is not None:
        try:
            times = np.asarray(times, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("times must be numbers (start times in s).") from None
        if times.ndim != 1 or len(times) != n:
            raise ValueError(
                f"times must hold one start time (s) per row of X ({n}); got shape "
                f"{times.shape}."
            )
        if not np.isfinite(times).all():
            raise ValueError("times contains NaN or infinity.")
    return names, index, times


def _jsonable(params: dict) -> dict:
    """Parameters as JSON values; a RandomState/Generator ``random_state`` -> None
    (the graph is saved, the generator is not needed to use it)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, (bool, np.bool_)):
            value = bool(value)
        elif isinstance(value, Integral):
            value = int(value)
        elif not (value is None or isinstance(value, str)):
            value = None
        out[key] = value
    return out


class EmbeddingIndex(BaseEstimator):
    """Nearest-neighbour search over a collection of clip or segment embeddings.

    Fit on one vector per clip (e.g. the mean of :meth:`TripletEmbedder.transform`
    over time) or per segment (:meth:`TripletEmbedder.transform_segments`), with
    optional file names and start times, then ask which indexed vectors are
    nearest to new ones: :meth:`kneighbors` answers like scikit-learn's
    :class:`~sklearn.neighbors.NearestNeighbors` (distances and row indices),
    :meth:`query` adds the file names and times of the results.

    Small collections are searched exactly (blocked matrix products, about 64 MB of
    scores at a time whatever the size); from ``exact_threshold`` vectors on, an
    hnswlib graph (HNSW, approximate) answers queries in far less than the
    collection size. An index is saved to one file (:meth:`save`,
    :meth:`load`) and can also be pickled or ``joblib.dump``-ed.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"``: distance ``1 - cos(a, b)`` in [0, 2] (vectors are scaled to
        unit norm; an all-zero vector is at distance 1 from everything).
        ``"euclidean"``: the Euclidean distance (not squared).
    method : {"auto", "exact", "hnsw"}, default="auto"
        ``"auto"``: exact search below ``exact_threshold`` vectors, hnswlib from
        there on.
    exact_threshold : int, default=100_000
        Collection size from which ``method="auto"`` builds an hnswlib graph
        (below it an exact query takes under a millisecond per core for
        128-dimensional vectors).
    M : int, default=32
        hnswlib: links per node. More links = higher recall at a given query
        time, more memory (about ``8 * M`` bytes per vector) and a slower build.
    ef_construction : int, default=200
        hnswlib: candidate list size while building. Higher = better graph,
        slower build.
    ef_search : int, default=200
        hnswlib: candidate list size while searching (at least ``n_neighbors``).
        Higher = higher recall, slower queries. Read at query time:
        ``index.set_params(ef_search=400)`` changes it without rebuilding.
    n_jobs : int, default=None
        Threads building the graph and answering queries. None means 1 for
        hnswlib (the graph is then reproducible for a given ``random_state``) and
        torch's current thread count for exact search; -1 means all cores.
    random_state : int, RandomState instance or None, default=None
        Seeds the levels of the hnswlib graph.

    Attributes
    ----------
    vectors_ : ndarray of shape (n_samples, n_features), float32
        The indexed vectors (scaled to unit norm when ``metric="cosine"``).
    filenames_ : ndarray of shape (n_files,) of str or None
        Distinct file names, sorted; None when fitted without ``filenames``.
    file_index_ : ndarray of shape (n_samples,), int64, or None
        Row of ``filenames_`` of each indexed vector:
        ``filenames_[file_index_]`` are the names passed to :meth:`fit`.
    times_ : ndarray of shape (n_samples,), float64, or None
        Start time (s) of each indexed vector; None when fitted without ``times``.
    method_ : {"exact", "hnsw"}
        Search method used.
    metric_ : str
        Metric of the fitted index.
    hnsw_index_ : hnswlib.Index or None
        The graph (``method_ == "hnsw"``).
    n_samples_fit_ : int
        Number of indexed vectors.
    n_features_in_ : int
        Dimension of the vectors.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sklearn.neighbors.NearestNeighbors : Exact search, more metrics, no metadata.
    sktriplet.embedding.TripletEmbedder : The embeddings to index.

    Examples
    --------
    >>> import numpy as np
    >>> from sktriplet.neighbors import EmbeddingIndex
    >>> X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 1], [-1, 0]], dtype=np.float32)
    >>> index = EmbeddingIndex().fit(
    ...     X,
    ...     filenames=["dog.wav", "dog.wav", "bell.wav", "bell.wav", "rain.wav"],
    ...     times=[0.0, 0.96, 0.0, 0.96, 0.0],
    ... )
    >>> index.method_
    'exact'
    >>> distances, indices = index.kneighbors([[0.2, 1.0]], n_neighbors=2)
    >>> indices.tolist()
    [[3, 2]]
    >>> res = index.query([[1.0, 0.05]], n_neighbors=3)
    >>> res.filenames.tolist(), res.times.tolist()
    ([['dog.wav', 'dog.wav', 'bell.wav']], [[0.0, 0.96, 0.96]])

    ``X=None`` finds the neighbours of every indexed vector, itself left out:

    >>> index.kneighbors(n_neighbors=1, return_distance=False).ravel().tolist()
    [1, 0, 3, 2, 2]
    """

    _parameter_constraints = {
        "metric": [StrOptions({"cosine", "euclidean"})],
        "method": [StrOptions({"auto", "exact", "hnsw"})],
        "exact_threshold": [Interval(Integral, 0, None, closed="left")],
        "M": [Interval(Integral, 2, None, closed="left")],
        "ef_construction": [Interval(Integral, 1, None, closed="left")],
        "ef_search": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        metric="cosine",
        method="auto",
        exact_threshold=EXACT_THRESHOLD,
        M=32,
        ef_construction=200,
        ef_search=200,
        n_jobs=None,
        random_state=None,
    ):
        self.metric = metric
        self.method = method
        self.exact_threshold = exact_threshold
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------
    def fit(self, X, y=None, *, filenames=None, times=None):
        """Index the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings, one per clip or segment; finite values.
        y : None
            Ignored.
        filenames : array-like of shape (n_samples,) of str, default=None
            File of each row (for segment embeddings, the same name on every
            segment of a clip: ``np.asarray(names)[clip_index]``).
        times : array-like of shape (n_samples,), default=None
            Start time (s) of each row, e.g. the ``start_time`` of
            ``transform_segments(X, return_index=True)``.

        Returns
        -------
        self : EmbeddingIndex
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        n = X.shape[0]
        self.filenames_, self.file_index_, self.times_ = _check_metadata(
            filenames, times, n
        )
        self.metric_ = self.metric
        self.method_ = self._choose_method(n)
        if self.metric_ == "cosine":
            self.vectors_ = unit_rows(X)
        else:  # a copy: later changes to the caller's array must not leak in
            self.vectors_ = np.array(X, dtype=np.float32, order="C")
        self.n_samples_fit_ = n
        self.hnsw_index_ = None
        if self.method_ == "hnsw":
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            self.hnsw_index_ = build_hnsw(
                self.vectors_,
                self.metric_,
                M=self.M,
                ef_construction=self.ef_construction,
                seed=int(seed),
                n_jobs=effective_n_jobs(self.n_jobs),
            )
        return self

    def _choose_method(self, n: int) -> str:
        if self.method != "auto":
            return self.method
        return "exact" if n < self.exact_threshold else "hnsw"

    # -- queries -----------------------------------------------------------------
    def kneighbors(self, X=None, n_neighbors=10, return_distance=True):
        """Nearest indexed vectors of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query embeddings. None: every indexed vector is a query and is left out
            of its own neighbours (as in scikit-learn).
        n_neighbors : int, default=10
            Neighbours per query, at most the number of indexed vectors (minus one
            when ``X`` is None).
        return_distance : bool, default=True
            Also return the distances.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors), float32
            Sorted ascending; ``1 - cos`` or Euclidean. Only with
            ``return_distance=True``.
        indices : ndarray of shape (n_queries, n_neighbors), int64
            Rows of the indexed ``X``.
        """
        check_is_fitted(self, "vectors_")
        leave_out = X is None
        k = self._check_n_neighbors(n_neighbors, leave_out)
        if leave_out:
            Q = self.vectors_
        else:
            Q = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
            Q = (
                unit_rows(Q)
                if self.metric_ == "cosine"
                else np.ascontiguousarray(Q, dtype=np.float32)
            )
        distances, indices = self._search(Q, k + leave_out)
        if leave_out:
            distances, indices = _leave_self_out(distances, indices)
        return (distances, indices) if return_distance else indices

    def query(self, X=None, n_neighbors=10) -> Neighbors:
        """Nearest indexed vectors of each row of ``X``, with file names and times.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query embeddings; None as in :meth:`kneighbors`.
        n_neighbors : int, default=10
            Neighbours per query.

        Returns
        -------
        neighbors : Neighbors
            ``distances``, ``indices``, ``filenames`` and ``times``, each of shape
            ``(n_queries, n_neighbors)`` (the last two None when not given to
            :meth:`fit`).
        """
        distances, indices = self.kneighbors(X, n_neighbors)
        filenames = times = None
        if self.filenames_ is not None:
            filenames = self.filenames_[self.file_index_[indices]]
        if self.times_ is not None:
            times = self.times_[indices]
        return Neighbors(distances, indices, filenames, times)

    def _check_n_neighbors(self, n_neighbors, leave_out: bool) -> int:
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral):
            raise ValueError(f"n_neighbors must be an integer; got {n_neighbors!r}.")
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1; got {n_neighbors}.")
        available = self.n_samples_fit_ - leave_out
        if n_neighbors > available:
            which = (
                f"the {available} other indexed vectors (X=None leaves each vector "
                "out of its own neighbours)"
                if leave_out
                else f"the {available} indexed vectors"
            )
            raise ValueError(f"n_neighbors={n_neighbors} is more than {which}.")
        return int(n_neighbors)

    def _search(self, Q, k: int):
        n_jobs = effective_n_jobs(self.n_jobs)
        if self.method_ == "exact":
            with torch_threads(None if self.n_jobs is None else n_jobs):
                return exact_kneighbors(self.vectors_, Q, k, self.metric_)
        return hnsw_kneighbors(
            self.hnsw_index_,
            Q,
            k,
            ef=int(self.ef_search),
            metric=self.metric_,
            n_jobs=n_jobs,
        )

    # -- persistence -------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the index to one file (vectors, metadata, hnswlib graph).

        The file is a zip archive holding ``.npy`` arrays, a JSON header with a
        format version and, for ``method_ == "hnsw"``, the graph of
        ``hnswlib.Index.save_index``. It is written under a temporary name and
        renamed over ``path`` when complete, so an interrupted save never leaves a
        truncated index. It holds no pickle.

        Parameters
        ----------
        path : str or path-like
            File to write (its folder is created if needed).

        Returns
        -------
        path : Path
        """
        check_is_fitted(self, "vectors_")
        header = {
            "sktriplet_version": __version__,
            "params": _jsonable(self.get_params()),
            "metric": self.metric_,
            "method": self.method_,
            "n_samples": int(self.n_samples_fit_),
            "n_features": int(self.n_features_in_),
        }
        arrays = {
            "vectors": self.vectors_,
            "filenames": self.filenames_,
            "file_index": self.file_index_,
            "times": self.times_,
            "feature_names": getattr(self, "feature_names_in_", None),
        }
        if arrays["feature_names"] is not None:
            arrays["feature_names"] = arrays["feature_names"].astype(str)
        return write_index_file(path, header, arrays, self.hnsw_index_)

    @classmethod
    def load(cls, path) -> EmbeddingIndex:
        """Read an index written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            File written by :meth:`save`.

        Returns
        -------
        index : EmbeddingIndex
            Fitted, with the parameters it was saved with (a ``random_state``
            generator is saved as None).

        Raises
        ------
        ValueError
            If ``path`` is not an index file, or was written by a newer format
            version.
        """
        header, arrays, graph = read_index_file(path)
        index = cls(**header["params"])
        n, d = header["n_samples"], header["n_features"]
        vectors = arrays.get("vectors")
        if vectors is None or vectors.shape != (n, d):
            raise ValueError(
                f"{str(path)!r} is damaged: its vectors do not have the shape "
                f"({n}, {d}) of its header."
            )
        index.vectors_ = vectors
        index.filenames_ = arrays.get("filenames")
        index.file_index_ = arrays.get("file_index")
        index.times_ = arrays.get("times")
        if "feature_names" in arrays:
            index.feature_names_in_ = arrays["feature_names"].astype(object)
        index.metric_ = header["metric"]
        index.method_ = header["method"]
        index.hnsw_index_ = graph
        index.n_samples_fit_ = n
        index.n_features_in_ = d
        return index


def _leave_self_out(distances, indices):
    """Drop each query's own row from ``k + 1`` results (or the last one when its
    own row is missing, e.g. behind exact duplicates in an approximate search)."""
    m = indices.shape[0]
    own = indices == np.arange(m)[:, None]
    own[~own.any(axis=1), -1] = True
    keep = ~own
    k = indices.shape[1] - 1
    return distances[keep].reshape(m, k), indices[keep].reshape(m, k)
