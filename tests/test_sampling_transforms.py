"""make_positives, semi-hard mining helpers and nearest-neighbour search."""

import numpy as np
import pytest
import torch

from sktriplet.nn import semihard_negatives, semihard_valid_mask
from sktriplet.sampling import (
    TRANSFORM_CODES,
    ExampleMixing,
    GaussianNoise,
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    TimeFrequencyShift,
    TransformPositive,
    Triplets,
    make_positives,
)
from sktriplet.sampling._knn import nearest_neighbors


def _triplets(code, anchor=0, positive=-1, **fields):
    t = Triplets.empty(1)
    t.anchor[:], t.positive[:], t.transform[:] = anchor, positive, code
    for key, value in fields.items():
        getattr(t, key)[:] = value
    return t


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(4, 6, 5)).astype(np.float32)


def test_index_positive_is_the_segment(X):
    out = make_positives(X, _triplets(-1, anchor=0, positive=2))
    assert out.dtype == np.float32 and out.shape == (1, 6, 5)
    np.testing.assert_array_equal(out[0], X[2])


def test_gaussian_noise_is_deterministic_and_scaled(X):
    t = _triplets(TRANSFORM_CODES["gaussian_noise"], seed=123, alpha=0.5)
    a, b = make_positives(X, t), make_positives(X, t)
    np.testing.assert_array_equal(a, b)
    noise = (a[0] - X[0]) / 0.5
    assert abs(noise.std() - 1) < 0.3
    c = make_positives(X, t, sigma=0.0)
    np.testing.assert_allclose(c[0], X[0])


def test_time_frequency_shift_matches_roll_and_zero_fill(X):
    t = _triplets(TRANSFORM_CODES["time_frequency_shift"], time_shift=2, freq_shift=-1)
    out = make_positives(X, t)[0]
    expected = np.roll(X[0], 2, axis=0)
    expected = np.concatenate([expected[:, 1:], np.zeros((6, 1))], axis=1)
    np.testing.assert_allclose(out, expected)
    t = _triplets(TRANSFORM_CODES["time_frequency_shift"], time_shift=0, freq_shift=2)
    out = make_positives(X, t)[0]
    np.testing.assert_allclose(out[:, :2], 0)
    np.testing.assert_allclose(out[:, 2:], X[0][:, :3])


def test_example_mixing_on_linear_power(X):
    X_db = X * 10
    t = _triplets(TRANSFORM_CODES["example_mixing"], anchor=0, positive=1, alpha=0.25)
    out = make_positives(X_db, t)[0]
    pa, pn = 10 ** (X_db[0] / 10.0), 10 ** (X_db[1] / 10.0)
    mix = pa + 0.25 * (pa.sum() / pn.sum()) * pn
    np.testing.assert_allclose(out, 10 * np.log10(mix), rtol=1e-5, atol=1e-4)
    # standardized input: same result after de/re-standardizing
    mean, std = -20.0, 4.0
    out_std = make_positives(
        (X_db - mean) / std, t, feature_mean=mean, feature_std=std
    )[0]
    np.testing.assert_allclose(out_std * std + mean, out, rtol=1e-4, atol=1e-3)
    # alpha = 0 gives the anchor back
    t0 = _triplets(TRANSFORM_CODES["example_mixing"], anchor=0, positive=1, alpha=0)
    np.testing.assert_allclose(make_positives(X_db, t0)[0], X_db[0], atol=1e-4)


def test_make_positives_rows_and_bad_input(X):
    rule = TransformPositive(
        transforms=[GaussianNoise(), TimeFrequencyShift(), ExampleMixing()]
    )
    s = RuleSampler(unlabeled=(rule, SemiHardNegative())).fit(X)
    t = s.sample(8, random_state=0)
    full = make_positives(X, t)
    part = make_positives(X, t, rows=[3, 1])
    np.testing.assert_array_equal(part, full[[3, 1]])
    with pytest.raises(ValueError, match="3-D"):
        make_positives(X.reshape(4, -1), t)
    bad = _triplets(7)
    with pytest.raises(ValueError, match="Unknown transform code"):
        make_positives(X, bad)


def test_semihard_negatives_example_and_fallback():
    a = torch.zeros(3, 1)
    p = torch.tensor([[1.0], [10.0], [1.0]])
    c = torch.tensor([[0.5], [2.0], [3.0]])
    valid = torch.tensor([[1, 1, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    neg, found = semihard_negatives(a, p, c, valid)
    assert neg.tolist() == [1, 2, -1]  # closest farther; farthest fallback; none
    assert found.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="shape"):
        semihard_negatives(a, p, c, valid[:, :2])
    with pytest.raises(ValueError, match="candidate_emb"):
        semihard_negatives(a, p, torch.zeros(3, 2))


def test_semihard_does_not_track_gradients():
    a = torch.randn(4, 3, requires_grad=True)
    neg, _ = semihard_negatives(a, a + 1, a)
    assert not neg.requires_grad


def test_semihard_valid_mask_clips_and_labels():
    clips = [0, 0, 1, 2]
    Y = np.array([[1, 0], [1, 0], [0, 1], [-1, -1]])
    valid = semihard_valid_mask(clips, clips, Y, Y).numpy()
    expected = np.array(
        [
            [0, 0, 1, 1],  # same clip or same label excluded; unlabelled kept
            [0, 0, 1, 1],
            [1, 1, 0, 1],
            [1, 1, 1, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(valid, expected)
    # 1-D labels
    y = np.array([3, 3, 5, -1])
    v1 = semihard_valid_mask([0, 1, 2, 3], [0, 1, 2, 3], y, y).numpy()
    assert not v1[0, 1] and v1[0, 2] and v1[3, 0] and v1[0, 3]
    # "no event" rows share with each other
    Z = np.array([[0, 0], [0, 0]])
    assert not semihard_valid_mask([0, 1], [0, 1], Z, Z).numpy()[0, 1]


def test_nearest_neighbors_exact_and_hnsw_agree():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 16)).astype(np.float32)
    groups = np.repeat(np.arange(200), 2)
    ie, de, m1 = nearest_neighbors(X, 3, groups=groups, method="exact")
    ih, dh, m2 = nearest_neighbors(X, 3, groups=groups, method="hnsw",
                                   random_state=0)
    assert (m1, m2) == ("exact", "hnsw")
    assert (groups[ie] != groups[:, None]).all()
    assert np.all(np.diff(de, axis=1) >= 0)
    assert np.mean(ie[:, 0] == ih[:, 0]) >= 0.95
    _, _, m3 = nearest_neighbors(X, 1, method="auto")
    assert m3 == "exact"


def test_nearest_positive_options():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2, 8)).astype(np.float32)
    clip = np.repeat(np.arange(10), 3)
    rule = NearestPositive(n_neighbors=3, exclude_same_clip=False, n_components=4,
                           method="exact")
    s = RuleSampler(unlabeled=(rule, SemiHardNegative())).fit(X, clip_index=clip)
    fitted = s.unlabeled_rules_[0]
    assert fitted.neighbors_.shape == (30, 3)
    t = s.sample(200, random_state=0)
    assert (t.positive != t.anchor).all()
    pairs = {(a, p) for a, p in zip(t.anchor, t.positive)}
    assert all(p in fitted.neighbors_[a] for a, p in pairs)
    assert len(pairs) > 30  # several neighbours are drawn


def test_nearest_positive_one_clip_skips_everything():
    X = np.zeros((3, 2, 2), np.float32)
    s = RuleSampler(unlabeled=(NearestPositive(), SemiHardNegative()))
    s.fit(X, clip_index=[0, 0, 0])
    with pytest.warns(UserWarning, match="3 of 3 anchors were skipped"):
        t = s.sample(3, random_state=0)
    assert len(t) == 0
