import copy

import numpy as np
import pytest

from sktriplet.model_selection import LabeledKFold, mask_labels


def _multilabel(n=200, c=6, seed=0):
    rng = np.random.RandomState(seed)
    p = np.linspace(0.05, 0.5, c)
    return (rng.rand(n, c) < p).astype(int)


@pytest.mark.parametrize("labeled", [0.1, 0.25, 0.5, 1.0, 0.0])
@pytest.mark.parametrize("stratify", [True, False])
def test_mask_labels_exact_count_fraction(labeled, stratify):
    y = _multilabel()
    y[:20] = -1  # already unlabelled rows stay unlabelled
    out = mask_labels(y, labeled, random_state=0, stratify=stratify)
    kept = ~(out == -1).all(axis=1)
    assert kept.sum() == round(labeled * 180)
    assert not kept[:20].any()
    np.testing.assert_array_equal(out[kept], y[kept])
    assert out.shape == y.shape and out.dtype == y.dtype
    assert y[20:].min() >= 0  # input not modified


def test_mask_labels_int_count_and_1d():
    y = np.repeat(np.arange(4), 10)
    out = mask_labels(y, 8, random_state=1)
    assert (out != -1).sum() == 8
    # stratified: two per class
    np.testing.assert_array_equal(np.bincount(out[out != -1]), [2, 2, 2, 2])


def test_mask_labels_string_labels():
    y = np.array(["a", "b"] * 10)
    out = mask_labels(y, 0.5, random_state=0)
    assert (out == "-1").sum() == 10
    assert set(out[out != "-1"]) == {"a", "b"}


def test_mask_labels_stratified_spreads_rare_classes():
    y = _multilabel(n=300, c=8, seed=3)
    rare = y.sum(axis=0).argmin()
    out = mask_labels(y, 0.1, random_state=0)
    kept = out[~(out == -1).all(axis=1)]
    assert kept[:, rare].sum() >= 1
    # proportions are close to the full set's
    np.testing.assert_allclose(
        kept.mean(axis=0), y.mean(axis=0), atol=0.08
    )


def test_mask_labels_reproducible():
    y = _multilabel()
    a = mask_labels(y, 0.3, random_state=42)
    b = mask_labels(y, 0.3, random_state=42)
    c = mask_labels(y, 0.3, random_state=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "labeled, err, match",
    [
        (1.5, ValueError, r"\[0, 1\]"),
        (-0.1, ValueError, r"\[0, 1\]"),
        (500, ValueError, "labelled rows"),
        (-1, ValueError, "labelled rows"),
        ("half", TypeError, "labeled"),
        (True, TypeError, "labeled"),
    ],
)
def test_mask_labels_bad_labeled(labeled, err, match):
    with pytest.raises(err, match=match):
        mask_labels(_multilabel(), labeled)


def test_mask_labels_bad_y():
    with pytest.raises(ValueError, match="only -1"):
        mask_labels(np.array([[0, 2], [1, 0]]), 0.5)
    with pytest.raises(TypeError, match="stratify"):
        mask_labels(_multilabel(), 0.5, stratify="yes")


def test_labeled_kfold_splits_labelled_rows_only():
    y = _multilabel(n=50)
    y[::5] = -1
    unl = np.flatnonzero((y == -1).all(axis=1))
    lab = np.flatnonzero(~(y == -1).all(axis=1))
    cv = LabeledKFold(n_splits=4)
    assert cv.get_n_splits() == 4
    tests = []
    for train, test in cv.split(np.zeros((50, 3)), y):
        assert set(unl) <= set(train)
        assert not set(test) & set(train)
        assert set(test) <= set(lab)
        assert len(train) + len(test) == 50
        tests.append(test)
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), lab)


def test_labeled_kfold_shuffle_reproducible_and_clonable():
    y = np.array([0, 1] * 10)
    y[:4] = -1
    cv = LabeledKFold(3, shuffle=True, random_state=0)
    a = [t for _, t in cv.split(np.zeros(20), y)]
    b = [t for _, t in copy.deepcopy(cv).split(np.zeros(20), y)]
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    plain = [t for _, t in LabeledKFold(3).split(np.zeros(20), y)]
    assert any(not np.array_equal(x, z) for x, z in zip(a, plain))
    assert "LabeledKFold(n_splits=3" in repr(cv)


def test_labeled_kfold_errors():
    y = np.array([0, -1, -1, 1])
    with pytest.raises(ValueError, match="greater than the number of labelled"):
        list(LabeledKFold(3).split(np.zeros(4), y))
    with pytest.raises(ValueError, match="y=None"):
        list(LabeledKFold(2).split(np.zeros(4)))
    with pytest.raises(ValueError, match="n_splits"):
        LabeledKFold(1)
    with pytest.raises(ValueError, match="n_splits"):
        LabeledKFold(2.5)
    with pytest.raises(ValueError, match="same length"):
        list(LabeledKFold(2).split(np.zeros(5), y))
