"""Samplers: API, scikit-learn conventions, strategies and bad input."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sktriplet.sampling import (
    STRATEGIES,
    TRANSFORM_CODES,
    ExampleMixing,
    GaussianNoise,
    LabelNegative,
    LabelPositive,
    NearestPositive,
    RuleSampler,
    SemiHardNegative,
    TemporalProximity,
    TimeFrequencyShift,
    TransformPositive,
    Triplets,
    TripletSampler,
    get_sampler,
)


def _data(n_clips=12, seg_per_clip=4, n_classes=3, unlabeled_share=0.5, seed=0):
    rng = np.random.default_rng(seed)
    n = n_clips * seg_per_clip
    X = rng.normal(size=(n, 8, 5)).astype(np.float32)
    clip = np.repeat(np.arange(n_clips), seg_per_clip)
    start = np.tile(np.arange(seg_per_clip) * 0.96, n_clips)
    y_clip = np.arange(n_clips) % n_classes
    y_clip[rng.random(n_clips) < unlabeled_share] = -1
    y_clip[:n_classes * 2] = np.arange(n_classes * 2) % n_classes  # each class twice
    return X, y_clip[clip], clip, start


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategies_fit_and_sample(name):
    X, y, clip, start = _data()
    sampler = get_sampler(name, **(
        {"unlabeled__positive__method": "exact"} if name == "s3" else {}
    ))
    sampler.fit(X, y, clip_index=clip, start_time=start)
    t = sampler.sample(30, random_state=0)
    assert isinstance(t, Triplets)
    assert len(t) + t.n_skipped == 30
    assert t.anchor.dtype == np.int64 and t.transform.dtype == np.int8
    assert (t.positive != t.anchor).all() or (t.transform >= 0).any()
    if name == "s1":
        assert not t.labeled.any() and t.needs_mining.all()
    if name in ("s4", "s5"):
        assert t.labeled.all()
    if name == "s5":
        assert not t.needs_mining.any()
    labeled = sampler.labeled_mask_
    assert (labeled[t.anchor[t.labeled]]).all()
    if name in ("s2", "s3"):
        assert not labeled[t.anchor[~t.labeled]].any()


def test_strategy_rules_match_paper_table():
    s = STRATEGIES
    assert s["s1"]().labeled is None
    assert isinstance(s["s1"]().unlabeled[0], TransformPositive)
    assert isinstance(s["s2"]().labeled[1], LabelNegative)
    assert isinstance(s["s2"]().unlabeled[0], TransformPositive)
    assert isinstance(s["s3"]().unlabeled[0], NearestPositive)
    assert isinstance(s["s3"]().unlabeled[1], SemiHardNegative)
    assert isinstance(s["s4"]().labeled[1], SemiHardNegative)
    assert s["s4"]().unlabeled is None and s["s5"]().unlabeled is None
    assert s["s4"]().requires_labels and not s["s2"]().requires_labels
    assert isinstance(s["s5"]().labeled[1], LabelNegative)
    assert isinstance(s["s1"]().unlabeled[1], SemiHardNegative)


@pytest.mark.parametrize(
    "name, labeled, unlabeled",
    [
        ("s1", False, True),
        ("s2", True, True),
        ("s3", True, True),
        ("s4", True, False),
        ("s5", True, False),
    ],
)
def test_anchor_pool_properties(name, labeled, unlabeled):
    sampler = get_sampler(name)
    assert sampler.uses_labeled_anchors is labeled
    assert sampler.uses_unlabeled_anchors is unlabeled
    with pytest.raises(AttributeError):
        sampler.uses_labeled_anchors = not labeled


def test_one_d_and_indicator_labels_agree():
    X, y, clip, start = _data()
    classes = np.unique(y[y >= 0])
    Y = np.where(y[:, None] == -1, -1, (y[:, None] == classes).astype(int))
    a = get_sampler("s5").fit(X, y, clip_index=clip).sample(20, random_state=3)
    b = get_sampler("s5").fit(X, Y, clip_index=clip).sample(20, random_state=3)
    np.testing.assert_array_equal(a.positive, b.positive)
    np.testing.assert_array_equal(a.negative, b.negative)


def test_labeled_ratio_exact_counts():
    X, y, clip, start = _data()
    sampler = get_sampler("s2").fit(X, y, clip_index=clip)
    for ratio, n in [(0.0, 10), (0.25, 17), (0.5, 33), (1.0, 9), (0.3, 1)]:
        t = sampler.sample(n, labeled_ratio=ratio, random_state=0)
        assert t.n_skipped == 0
        assert int(t.labeled.sum()) == round(ratio * n)
        assert int((~t.labeled).sum()) == n - round(ratio * n)


def test_default_ratio_is_proportional():
    X, y, clip, start = _data()
    sampler = get_sampler("s2").fit(X, y, clip_index=clip)
    t = sampler.sample(100, random_state=0)
    assert int(t.labeled.sum()) == round(100 * (y >= 0).mean())


def test_reproducible_and_varies_with_seed():
    X, y, clip, start = _data()
    sampler = get_sampler("s2").fit(X, y, clip_index=clip, start_time=start)
    a = sampler.sample(40, random_state=7)
    b = sampler.sample(40, random_state=7)
    c = sampler.sample(40, random_state=8)
    for field in ("anchor", "positive", "negative", "transform", "seed", "alpha"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.anchor, c.anchor)


def test_anchors_without_replacement_while_pool_lasts():
    X, y, clip, start = _data()
    sampler = get_sampler("s1").fit(X, clip_index=clip, start_time=start)
    t = sampler.sample(len(X), random_state=0)
    assert np.array_equal(np.sort(t.anchor), np.arange(len(X)))


def test_transform_positive_recipes():
    X, y, clip, start = _data()
    rule = TransformPositive(
        transforms=[GaussianNoise(0.3), TimeFrequencyShift(2), ExampleMixing(0.5)],
        weights=[1, 1, 2],
    )
    sampler = RuleSampler(unlabeled=(rule, SemiHardNegative())).fit(
        X, clip_index=clip, start_time=start
    )
    t = sampler.sample(400, random_state=0)
    codes = TRANSFORM_CODES
    noise = t.transform == codes["gaussian_noise"]
    shift = t.transform == codes["time_frequency_shift"]
    mix = t.transform == codes["example_mixing"]
    assert noise.any() and shift.any() and mix.sum() > shift.sum()
    assert (t.positive[noise | shift] == -1).all()
    assert np.allclose(t.alpha[noise], 0.3) and np.allclose(t.alpha[mix], 0.5)
    assert (np.abs(t.freq_shift[shift]) <= 2).all()
    assert ((t.time_shift[shift] >= 0) & (t.time_shift[shift] < X.shape[1])).all()
    assert (clip[t.positive[mix]] != clip[t.anchor[mix]]).all()


def test_temporal_proximity_falls_back_to_other_transforms():
    X = np.zeros((6, 4, 2), np.float32)
    clip = [0, 1, 2, 3, 4, 4]  # most clips have a single segment
    rule = TransformPositive(transforms=[TemporalProximity(), GaussianNoise()])
    s = RuleSampler(unlabeled=(rule, SemiHardNegative())).fit(X, clip_index=clip)
    t = s.sample(6, random_state=0)
    assert len(t) == 6
    prox = t.transform == -1
    assert set(t.anchor[prox]) <= {4, 5}


def test_get_params_clone_and_nested_routing():
    sampler = get_sampler("s3")
    params = sampler.get_params()
    assert "unlabeled__positive__n_neighbors" in params
    assert "labeled__negative" in params
    sampler.set_params(
        unlabeled__positive__n_neighbors=3, labeled__positive__exclude_same_clip=False
    )
    assert sampler.unlabeled[0].n_neighbors == 3
    assert sampler.labeled[0].exclude_same_clip is False
    sampler.set_params(labeled__negative=SemiHardNegative())
    assert isinstance(sampler.labeled[1], SemiHardNegative)
    cloned = clone(sampler)
    assert cloned.unlabeled[0] is not sampler.unlabeled[0]
    assert cloned.get_params()["unlabeled__positive__n_neighbors"] == 3
    with pytest.raises(ValueError, match="'positive' or 'negative'"):
        sampler.set_params(labeled__middle=1)
    with pytest.raises(ValueError, match="labeled is None"):
        get_sampler("s1").set_params(labeled__positive__exclude_same_clip=True)


def test_get_sampler_clones_instances_and_sets_params():
    base = get_sampler("s2")
    s = get_sampler(base, unlabeled__positive__weights=[1, 0, 0, 0])
    assert s is not base and base.unlabeled[0].weights is None
    assert get_sampler("S4").labeled is not None


def test_fit_does_not_change_params_and_sets_attributes():
    X, y, clip, start = _data()
    sampler = get_sampler("s2")
    before = sampler.get_params()
    sampler.fit(X, y, clip_index=clip, start_time=start)
    after = sampler.get_params()
    assert before.keys() == after.keys()
    assert sampler.n_segments_ == len(X)
    assert sampler.labels_.shape == (len(X), 3)
    assert sampler.labels_.dtype == np.int8
    assert (sampler.labels_[y == -1] == -1).all()


def test_accepts_flattened_2d_segments():
    X, y, clip, start = _data()
    t = get_sampler("s2").fit(X.reshape(len(X), -1), y).sample(5, random_state=0)
    assert len(t) == 5


def test_subclass_with_abstract_sample():
    class Incomplete(TripletSampler):
        pass

    with pytest.raises(TypeError):
        Incomplete()

    class Bad(TripletSampler):
        def _sample(self, anchors, labeled, rng):
            return "oops"

    X, *_ = _data()
    with pytest.raises(TypeError, match="must return a Triplets"):
        Bad().fit(X).sample(3)


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["s4", "s5"])
@pytest.mark.parametrize("y", [None, "all_unlabeled"])
def test_no_labelled_segment_for_label_strategy(name, y):
    X, _, clip, _ = _data()
    y = None if y is None else np.full(len(X), -1)
    with pytest.raises(ValueError, match="no labelled segment"):
        get_sampler(name).fit(X, y, clip_index=clip)


def test_single_class_has_no_label_negative():
    X, _, clip, _ = _data()
    y = np.where(np.arange(len(X)) % 2, 4, -1)
    with pytest.raises(ValueError, match="No label negative is possible"):
        get_sampler("s5").fit(X, y, clip_index=clip)
    # multi-label: every set shares class 0
    Y = np.zeros((len(X), 3), int)
    Y[:, 0] = 1
    Y[::2, 1] = 1
    with pytest.raises(ValueError, match="No label negative is possible"):
        get_sampler("s2").fit(X, Y, clip_index=clip)
    # s4 needs no label negative
    get_sampler("s4").fit(X, Y, clip_index=clip)


def test_unique_label_anchor_is_skipped_with_warning():
    X, _, clip, _ = _data(n_clips=6, seg_per_clip=2)
    y = np.repeat([0, 0, 1, 1, 2, -1], 2)  # class 2 only in clip 4
    sampler = get_sampler("s5").fit(X, y, clip_index=clip)
    with pytest.warns(UserWarning, match=r"2 of 10 anchors were skipped"):
        t = sampler.sample(10, random_state=0)
    assert t.n_skipped == 2 and len(t) == 8
    assert not np.isin(t.anchor, [8, 9]).any()


def test_no_warning_when_nothing_skipped():
    X, y, clip, _ = _data()
    sampler = get_sampler("s5").fit(X, y, clip_index=clip)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler.sample(10, random_state=0)


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_labeled_ratio_out_of_range(ratio):
    X, y, clip, _ = _data()
    sampler = get_sampler("s2").fit(X, y, clip_index=clip)
    with pytest.raises(ValueError, match="labeled_ratio must be in"):
        sampler.sample(10, labeled_ratio=ratio)
    with pytest.raises(TypeError, match="labeled_ratio"):
        sampler.sample(10, labeled_ratio="half")


def test_labeled_ratio_inconsistent_with_data_or_strategy():
    X, y, clip, _ = _data()
    with pytest.raises(ValueError, match="no labelled segment"):
        get_sampler("s2").fit(X, clip_index=clip).sample(10, labeled_ratio=0.5)
    all_labeled = np.arange(len(X)) % 3
    with pytest.raises(ValueError, match="every segment is labelled"):
        get_sampler("s2").fit(X, all_labeled).sample(10, labeled_ratio=0.5)
    with pytest.raises(ValueError, match="ignores labels"):
        get_sampler("s1").fit(X, y).sample(10, labeled_ratio=0.5)
    with pytest.raises(ValueError, match="only labelled anchors"):
        get_sampler("s4").fit(X, y).sample(10, labeled_ratio=0.5)


@pytest.mark.parametrize(
    "n, err", [(0, ValueError), (-3, ValueError), (2.5, TypeError)]
)
def test_bad_n_triplets(n, err):
    X, y, clip, _ = _data()
    sampler = get_sampler("s1").fit(X)
    with pytest.raises(err, match="n_triplets"):
        sampler.sample(n)


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(ValueError, match=r"'s1', 's2', 's3', 's4', 's5'"):
        get_sampler("s9")
    with pytest.raises(TypeError, match="strategy name"):
        get_sampler(3)


def test_one_segment_is_refused():
    X = np.zeros((1, 4, 2), np.float32)
    with pytest.raises(ValueError, match="at least 2 segments"):
        get_sampler("s1").fit(X)


def test_sample_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        get_sampler("s1").sample(3)


def test_bad_rules_and_metadata():
    X, y, clip, _ = _data()
    with pytest.raises(TypeError, match="positive rule"):
        RuleSampler(unlabeled=(SemiHardNegative(), SemiHardNegative())).fit(X)
    with pytest.raises(TypeError, match="negative rule"):
        RuleSampler(unlabeled=(TransformPositive(), GaussianNoise())).fit(X)
    with pytest.raises(ValueError, match="cannot be an unlabeled rule"):
        RuleSampler(unlabeled=(LabelPositive(), SemiHardNegative())).fit(X, y)
    with pytest.raises(ValueError, match="pair"):
        RuleSampler(unlabeled=(TransformPositive(),)).fit(X)
    with pytest.raises(ValueError, match="labeled or unlabeled"):
        RuleSampler().fit(X)
    with pytest.raises(ValueError, match="clip_index must have shape"):
        get_sampler("s1").fit(X, clip_index=clip[:-1])
    with pytest.raises(ValueError, match="start_time"):
        get_sampler("s1").fit(X, start_time=np.full(len(X), np.nan))
    with pytest.raises(ValueError, match="rows"):
        get_sampler("s2").fit(X, y[:-1])
    with pytest.raises(TypeError, match="Transform instances"):
        get_sampler("s1", unlabeled__positive__transforms=["noise"]).fit(X)
    with pytest.raises(ValueError, match="weights"):
        get_sampler("s1", unlabeled__positive__weights=[1, 2]).fit(X)
    with pytest.raises(ValueError, match="sigma"):
        get_sampler(
            "s1", unlabeled__positive__transforms=[GaussianNoise(sigma=-1)]
        ).fit(X)
    with pytest.raises(ValueError, match="method"):
        get_sampler("s3", unlabeled__positive__method="kd").fit(X, y)


def test_seed_unset_random_states_keeps_user_seeds():
    from sktriplet.sampling import seed_unset_random_states

    s = get_sampler("s3", unlabeled__positive__random_state=7)
    t = get_sampler("s3")
    seed_unset_random_states(s, 0)
    seed_unset_random_states(t, 0)
    assert s.get_params()["unlabeled__positive__random_state"] == 7
    seed = t.get_params()["unlabeled__positive__random_state"]
    assert isinstance(seed, int)
    u = get_sampler("s3")
    seed_unset_random_states(u, 0)
    assert u.get_params()["unlabeled__positive__random_state"] == seed


def test_rule_fit_validates_then_calls_hook():
    from sktriplet.sampling._data import SegmentData

    X, y, clip, start = _data()
    data = SegmentData(X, y, clip, start)
    rule = LabelNegative()
    assert rule.fit(data, data.labeled_idx) is rule
    with pytest.raises(ValueError, match="segment indices"):
        rule.fit(data, [0, data.n])
    with pytest.raises(ValueError, match="1-D array"):
        rule.fit(data, np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="exclude_same_clip"):
        LabelPositive(exclude_same_clip="yes").fit(data, data.labeled_idx)
