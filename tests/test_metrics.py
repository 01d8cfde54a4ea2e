import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_validate

from sktriplet.metrics import classification_report, macro_f1_score, macro_f1_scorer


def test_macro_f1_matches_sklearn_on_labelled_rows():
    rng = np.random.RandomState(0)
    y_true = rng.randint(0, 2, size=(40, 5))
    y_pred = rng.randint(0, 2, size=(40, 5))
    y_semi = y_true.copy()
    y_semi[::3] = -1
    mask = np.ones(40, dtype=bool)
    mask[::3] = False
    expected = f1_score(y_true[mask], y_pred[mask], average="macro", zero_division=0)
    assert macro_f1_score(y_semi, y_pred) == pytest.approx(expected)


def test_macro_f1_is_classwise_over_the_whole_set():
    # class 0: tp=2, fp=1, fn=0 -> 0.8; class 1: tp=0, fp=0, fn=1 -> 0
    y_true = np.array([[1, 0], [1, 1], [0, 0]])
    y_pred = np.array([[1, 0], [1, 0], [1, 0]])
    assert macro_f1_score(y_true, y_pred) == pytest.approx(0.4)


def test_sklearn_f1_rejects_unlabelled_rows_but_ours_does_not():
    y_true = np.array([[1, 0], [-1, -1]])
    y_pred = np.array([[1, 0], [0, 1]])
    with pytest.raises(ValueError):
        f1_score(y_true, y_pred, average="macro")
    assert macro_f1_score(y_true, y_pred) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "zero_division, expected", [(0.0, 0.5), (1.0, 1.0), (np.nan, 1.0)]
)
def test_zero_division_for_class_without_positives(zero_division, expected):
    y_true = np.array([[1, 0], [0, 0]])
    y_pred = np.array([[1, 0], [0, 0]])
    assert macro_f1_score(y_true, y_pred, zero_division=zero_division) == (
        pytest.approx(expected)
    )


def test_zero_division_validated():
    with pytest.raises(ValueError, match="zero_division"):
        macro_f1_score([[1]], [[1]], zero_division="warn")


def test_macro_f1_1d_ignores_minus_one():
    y_true = np.array(["a", "b", "-1", "a"])
    y_pred = np.array(["a", "a", "b", "a"])
    expected = f1_score(["a", "b", "a"], ["a", "a", "a"], average="macro")
    assert macro_f1_score(y_true, y_pred) == pytest.approx(expected)
    y_true = np.array([0, 1, -1, 2])
    assert macro_f1_score(y_true, np.array([0, 1, 0, 2])) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([[-1, -1], [-1, -1]], [[0, 1], [1, 0]], "no labelled row"),
        ([[1, 0], [0, 1]], [[1, 0]], "same length"),
        ([[1, 0], [0, 1]], [[1, 0, 1], [0, 1, 1]], "shape"),
        ([[1, 0], [0, 1]], [[1, 0], [0, 2]], "0/1 indicator"),
        ([0, 1], [[1, 0], [0, 1]], "1-D"),
        ([[2, 0], [0, 1]], [[1, 0], [0, 1]], "only -1"),
    ],
)
def test_macro_f1_bad_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        macro_f1_score(y_true, y_pred)


def test_classification_report_dict_and_text():
    y_true = np.array([[1, 0], [0, 1], [-1, -1], [1, 1]])
    y_pred = np.array([[1, 0], [0, 0], [1, 1], [1, 1]])
    rep = classification_report(y_true, y_pred, output_dict=True)
    assert rep["0"]["f1-score"] == pytest.approx(1.0)
    assert rep["1"]["recall"] == pytest.approx(0.5)
    assert rep["1"]["support"] == 2
    assert rep["macro avg"]["f1-score"] == pytest.approx(macro_f1_score(y_true, y_pred))
    text = classification_report(y_true, y_pred, target_names=["dog", "cat"], digits=3)
    assert "dog" in text and "macro avg" in text and "0.833" in text
    with pytest.raises(ValueError, match="target_names"):
        classification_report(y_true, y_pred, target_names=["dog"])


class _Oracle(ClassifierMixin, BaseEstimator):
    """Predicts the first column of X as the label matrix; records predict sizes."""

    def fit(self, X, y):
        self.classes_ = np.arange(2)
        return self

    def predict(self, X):
        self.n_predicted_ = len(X)
        return np.asarray(X)[:, :2].astype(int)


def test_scorer_skips_unlabelled_rows_before_predicting():
    X = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    y = np.array([[1, 0], [0, 1], [-1, -1], [-1, -1]])
    est = _Oracle().fit(X, y)
    assert macro_f1_scorer(est, X, y) == pytest.approx(1.0)
    assert est.n_predicted_ == 2
    with pytest.raises(ValueError, match="no labelled row"):
        macro_f1_scorer(est, X[2:], y[2:])
    assert "macro_f1" in repr(macro_f1_scorer)


def test_scorer_in_cross_validate():
    X = np.tile(np.array([[1, 0], [0, 1]]), (6, 1))
    y = X.copy()
    y[::4] = -1
    from sktriplet.model_selection import LabeledKFold

    res = cross_validate(_Oracle(), X, y, scoring=macro_f1_scorer, cv=LabeledKFold(3))
    np.testing.assert_allclose(res["test_score"], 1.0)


def test_scorer_on_list_input():
    X = [[1, 0], [0, 1], [1, 1]]
    y = [[1, 0], [-1, -1], [1, 1]]
    est = _Oracle().fit(X, y)
    assert macro_f1_scorer(est, X, y) == pytest.approx(1.0)
    assert est.n_predicted_ == 2


# ------------------------------------------------------------ select_thresholds
def test_select_thresholds_maximises_each_class_f1():
    from sklearn.metrics import f1_score

    from sktriplet.metrics import select_thresholds

    rng = np.random.RandomState(0)
    y = (rng.rand(80, 4) < [0.1, 0.3, 0.5, 0.7]).astype(int)
    proba = np.clip(0.35 * y + 0.65 * rng.rand(80, 4), 0.01, 0.99)
    grid = np.arange(0.05, 1.0, 0.05)
    thr = select_thresholds(y, proba, grid=grid)
    for c in range(4):
        scores = [f1_score(y[:, c], proba[:, c] > g) for g in grid]
        assert f1_score(y[:, c], proba[:, c] > thr[c]) == pytest.approx(max(scores))
    assert set(thr) <= set(grid)


def test_select_thresholds_skips_unlabelled_rows_and_keeps_the_default():
    from sktriplet.metrics import select_thresholds

    y = np.array([[1, 0], [0, 0], [-1, -1], [1, 0]])
    proba = np.array([[0.3, 0.9], [0.1, 0.8], [0.99, 0.99], [0.35, 0.7]])
    thr = select_thresholds(y, proba, grid=[0.2, 0.4, 0.6], default=0.6)
    # class 0: 0.2 tags both positives only; class 1 has no positive: the default
    np.testing.assert_array_equal(thr, [0.2, 0.6])
    # ties (0.2 and 0.4 both perfect for a 0.1 / 0.5 split): the one nearest 0.5
    tie = select_thresholds([[0], [1]], [[0.1], [0.5]], grid=[0.2, 0.4])
    np.testing.assert_array_equal(tie, [0.4])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"proba": np.zeros((3, 3))}, "same shape"),
        ({"grid": [0.0, 0.5]}, "open interval"),
        ({"grid": []}, "open interval"),
    ],
)
def test_select_thresholds_bad_input(kwargs, match):
    from sktriplet.metrics import select_thresholds

    args = {"y_true": np.array([[1, 0], [0, 1]]), "proba": np.full((2, 2), 0.5)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        select_thresholds(**args)


def test_selected_thresholds_drive_a_tagger():
    from sktriplet.metrics import select_thresholds
    from sktriplet.tagging import SequenceTagger

    rng = np.random.RandomState(0)
    X = rng.randn(30, 5, 4).astype(np.float32)
    y = (X[:, :, :2].mean(axis=1) > 0).astype(int)
    clf = SequenceTagger(hidden_size=4, max_epochs=2, device="cpu", random_state=0)
    clf.fit(X[:20], y[:20])
    thr = select_thresholds(y[20:], clf.predict_proba(X[20:]))
    clf.set_params(threshold=thr)
    np.testing.assert_array_equal(
        clf.predict(X), (clf.predict_proba(X) > thr).astype(int)
    )
