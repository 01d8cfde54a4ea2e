"""The taggers' regularised training: the mean teacher (consistency on unlabelled
clips, ``consistency > 0``), mixup (``mixup > 0``) and random gains per mel band
(``band_gain > 0``)."""

import pickle

import numpy as np
import pytest
import torch

from sktriplet.experiments import BestEpochOnHeldOut
from sktriplet.nn import CRNN, BiGRUTagger, MeanTeacher, consistency_loss
from sktriplet.nn._band_gain import MAX_GAIN_BANDS, MIN_GAIN_BANDS, band_gain_curves
from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.tagging._training import ClipLoss, TaggerNet
from sktriplet.utils._seeding import private_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TAGGERS = [SequenceTagger, CRNNTagger]
MT = {"consistency": 1.0, "input_noise": 0.1}


def _tagger(cls, **kw):
    params = {"hidden_size": 4, "max_epochs": 3, "device": "cpu", "random_state": 0}
    if cls is CRNNTagger:
        params.update(n_filters=2, n_conv=1)
    params.update(kw)
    return cls(**params)


def _data(n_labeled=24, n_unlabeled=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_labeled + n_unlabeled, 6, 5).astype(np.float32)
    y = (X[:, :, :3].mean(axis=1) > 0).astype(int)
    y[n_labeled:] = -1
    return X, y


# ------------------------------------------------------------------- the module
def test_teacher_update_is_a_moving_average_with_warm_up():
    torch.manual_seed(0)
    pair = MeanTeacher(BiGRUTagger(n_features=3, n_classes=2, hidden_size=2), 0.9)
    teacher0 = [p.clone() for p in pair.teacher.parameters()]
    with torch.no_grad():
        for p in pair.student.parameters():
            p.add_(1.0)
    pair.update_teacher()  # first update: decay min(0.9, 1 - 1/2) = 0.5
    for t0, t, s in zip(teacher0, pair.teacher.parameters(), pair.student.parameters()):
        torch.testing.assert_close(t, 0.5 * t0 + 0.5 * s)
    before = [p.clone() for p in pair.teacher.parameters()]
    for _ in range(20):
        pair.update_teacher()
    assert pair.n_updates == 21
    # decays 2/3, 3/4, ... up to 0.9 from the 9th update on
    kept = np.prod([min(0.9, 1 - 1 / (n + 1)) for n in range(2, 22)])
    for b, t, s in zip(before, pair.teacher.parameters(), pair.student.parameters()):
        torch.testing.assert_close(t, s + float(kept) * (b - s))
    assert not any(p.requires_grad for p in pair.teacher.parameters())


def test_batch_norm_statistics_are_copied_to_the_teacher():
    pair = MeanTeacher(CRNN(n_mels=8, n_classes=2, n_filters=2, n_conv=1))
    pair.train()(torch.randn(4, 5, 8) * 3 + 2)  # the student's running statistics
    pair.update_teacher()
    for t, s in zip(pair.teacher.buffers(), pair.student.buffers()):
        torch.testing.assert_close(t, s)


def test_forward_runs_the_student_in_training_and_the_teacher_in_eval():
    torch.manual_seed(0)
    pair = MeanTeacher(BiGRUTagger(n_features=3, n_classes=2, hidden_size=2))
    with torch.no_grad():
        for p in pair.student.parameters():
            p.add_(0.5)
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(pair.train()(x), pair.student(x))
    torch.testing.assert_close(pair.eval()(x), pair.teacher.eval()(x))
    assert not torch.allclose(pair.student(x), pair.teacher(x))


def test_consistency_loss_is_zero_for_agreeing_networks_and_skips_padding():
    torch.manual_seed(0)
    net = BiGRUTagger(n_features=3, n_classes=2, hidden_size=2, pooling="max")
    other = BiGRUTagger(n_features=3, n_classes=2, hidden_size=2, pooling="max")
    x = torch.randn(3, 6, 3)
    assert consistency_loss(net, net, (x, x)).item() == pytest.approx(0.0, abs=1e-12)
    lengths = torch.tensor([6, 4, 2])
    loss = consistency_loss(net, other, (x, x), lengths)
    assert loss.item() > 0
    y = x.clone()
    y[1, 4:] = 100.0  # padding frames of clips 1 and 2
    y[2, 2:] = -100.0
    torch.testing.assert_close(consistency_loss(net, other, (y, y), lengths), loss)
    loss.backward()  # the student carries the gradient, the teacher none
    assert net.dense.weight.grad is not None and other.dense.weight.grad is None


# ---------------------------------------------------------------- the taggers
@pytest.mark.parametrize("cls", TAGGERS)
def test_mean_teacher_fit_keeps_the_teacher_and_logs_consistency(cls):
    X, y = _data()
    clf = _tagger(cls, **MT).fit(X, y)
    assert type(clf.module_) is (BiGRUTagger if cls is SequenceTagger else CRNN)
    assert all(p.requires_grad for p in clf.module_.parameters())
    batches = clf.history_[-1]["batches"]
    assert all(b["consistency"] >= 0 for b in batches)
    # 24 labelled clips in batches of 16: the epoch still runs over them only
    assert [b["train_batch_size"] for b in batches] == [16, 8]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.all((proba > 0) & (proba < 1))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)


@pytest.mark.parametrize("cls", TAGGERS)
def test_mean_teacher_is_deterministic_and_uses_the_unlabelled_clips(cls):
    X, y = _data()
    a = _tagger(cls, **MT).fit(X, y).predict_proba(X)
    b = _tagger(cls, **MT).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    X_other = X.copy()
    X_other[24:] = np.random.RandomState(5).randn(40, 6, 5) * 3
    strong = {**MT, "consistency": 50.0, "max_epochs": 6, "lr": 0.02}
    c = _tagger(cls, **strong).fit(X, y).predict_proba(X)
    d = _tagger(cls, **strong).fit(X_other, y).predict_proba(X)
    assert np.abs(c - d).max() > 1e-3  # other unlabelled clips, another tagger
    supervised = _tagger(cls, max_epochs=6, lr=0.02).fit(X, y).predict_proba(X)
    assert np.abs(c - supervised).max() > 1e-3


@pytest.mark.parametrize("cls", TAGGERS)
def test_without_unlabelled_rows_consistency_changes_nothing(cls):
    X, y = _data(n_unlabeled=0)
    np.testing.assert_array_equal(
        _tagger(cls, **MT).fit(X, y).predict_proba(X),
        _tagger(cls).fit(X, y).predict_proba(X),
    )


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_input_noise_alone_does_not_change_a_supervised_fit(mixup):
    X, y = _data()
    np.testing.assert_array_equal(
        _tagger(SequenceTagger, input_noise=0.5, mixup=mixup)
        .fit(X, y)
        .predict_proba(X),
        _tagger(SequenceTagger, mixup=mixup).fit(X, y).predict_proba(X),
    )


@pytest.mark.parametrize("cls", TAGGERS)
def test_mean_teacher_on_clips_of_different_lengths(cls):
    X, y = _data()
    rng = np.random.RandomState(2)
    clips = [x[: rng.randint(3, 7)] for x in X]
    a = _tagger(cls, **MT).fit(clips, y).predict_proba(clips)
    b = _tagger(cls, **MT).fit(clips, y).predict_proba(clips)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(clips), 3)


def test_held_out_selection_scores_and_restores_the_teacher():
    X, y = _data()
    held = BestEpochOnHeldOut(X[:24], y[:24])
    clf = _tagger(SequenceTagger, max_epochs=4, callbacks=[held], **MT).fit(X, y)
    scores = clf.history_[:, "heldout_f1"]
    assert len(scores) == 4
    from sktriplet.metrics import macro_f1_score

    best = int(np.argmax(scores))
    assert macro_f1_score(y[:24], clf.predict(X[:24])) == pytest.approx(scores[best])


@pytest.mark.parametrize(
    "params",
    [{"consistency": -1.0}, {"teacher_decay": 1.0}, {"input_noise": -0.1}],
)
def test_bad_mean_teacher_params(params):
    X, y = _data()
    with pytest.raises(ValueError, match=next(iter(params))):
        _tagger(SequenceTagger, **params).fit(X, y)


def test_old_pickles_get_a_supervised_tagger():
    X, y = _data()
    clf = _tagger(SequenceTagger).fit(X, y)
    state = clf.__getstate__()
    for name in ("consistency", "teacher_decay", "input_noise"):
        del state[name]
    old = SequenceTagger.__new__(SequenceTagger)
    old.__setstate__(state)
    assert old.get_params()["consistency"] == 0.0
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))


# ------------------------------------------------------------------- mixup
def _net(mixup):
    return TaggerNet(module=torch.nn.Identity, criterion=ClipLoss, mixup=mixup)


def test_mixed_batch_is_a_convex_mixture_with_a_shuffled_copy():
    x = torch.arange(24, dtype=torch.float32).reshape(4, 2, 3)
    lengths = torch.tensor([2, 1, 2, 1])
    padded = x.clone()
    padded[lengths == 1, 1] = float("nan")  # padding is never read
    with private_generator(3):
        (mixed, mixed_lengths), (lam, perm) = _net(0.4)._mixed((padded, lengths))
    assert 0.0 < lam < 1.0
    assert sorted(perm.tolist()) == [0, 1, 2, 3] and perm.tolist() != [0, 1, 2, 3]
    x[lengths == 1, 1] = 0.0  # a shorter clip continues as zeros
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    assert torch.equal(mixed_lengths, torch.maximum(lengths, lengths[perm]))
    with private_generator(3):
        again, _ = _net(0.4)._mixed({"x": padded, "lengths": lengths})
    assert torch.equal(again["x"], mixed)
    assert torch.equal(again["lengths"], mixed_lengths)


def test_mixup_off_leaves_the_batch_alone():
    x = torch.ones(3, 2, 2)
    assert _net(0.0)._mixed(x) == (x, None)


def test_bce_on_mixed_targets_is_the_mixture_of_the_losses():
    # Why the net mixes losses rather than targets: it is the same for BCE and
    # also holds for the cross-entropy of integer (1-D) targets.
    rng = torch.Generator().manual_seed(0)
    proba = torch.rand(5, 3, generator=rng)
    a, b = (torch.rand(5, 3, generator=rng) > 0.5).float(), torch.zeros(5, 3)
    loss = ClipLoss(weight=torch.tensor([1.0, 3.0, 0.5]))
    lam = 0.3
    torch.testing.assert_close(
        loss(proba, lam * a + (1 - lam) * b),
        lam * loss(proba, a) + (1 - lam) * loss(proba, b),
    )


@pytest.mark.parametrize("cls", TAGGERS)
@pytest.mark.parametrize("consistency", [0.0, 1.0])
def test_mixup_is_deterministic_and_changes_the_fit(cls, consistency):
    X, y = _data()
    params = {"consistency": consistency, "lr": 0.02}
    a = _tagger(cls, mixup=0.4, **params).fit(X, y)
    b = _tagger(cls, mixup=0.4, **params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    plain = _tagger(cls, mixup=0.0, **params).fit(X, y)
    assert np.abs(a.predict_proba(X) - plain.predict_proba(X)).max() > 1e-4
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))


@pytest.mark.parametrize("cls", TAGGERS)
def test_mixup_on_clips_of_different_lengths(cls):
    X, y = _data()
    rng = np.random.RandomState(2)
    clips = [x[: rng.randint(3, 7)] for x in X]
    params = {"mixup": 0.4, "consistency": 1.0, "input_noise": 0.1}
    a = _tagger(cls, **params).fit(clips, y).predict_proba(clips)
    b = _tagger(cls, **params).fit(clips, y).predict_proba(clips)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(clips), 3)


def test_mixup_with_single_label_targets():
    X, _ = _data(n_unlabeled=0)
    y = np.arange(len(X)) % 3
    clf = _tagger(SequenceTagger, mixup=0.4).fit(X, y)
    assert set(clf.predict(X)) <= {0, 1, 2}
    assert np.isfinite(clf.history_[:, "train_loss"]).all()


def test_negative_mixup_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="mixup"):
        _tagger(SequenceTagger, mixup=-0.1).fit(X, y)


@pytest.mark.parametrize("name", ["mixup", "band_gain"])
def test_old_pickles_train_without_mixup_or_band_gains(name):
    X, y = _data()
    clf = _tagger(CRNNTagger).fit(X, y)
    state = clf.__getstate__()
    del state[name]
    old = CRNNTagger.__new__(CRNNTagger)
    old.__setstate__(state)
    assert old.get_params()[name] == 0.0
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("cls", TAGGERS)
@pytest.mark.parametrize("n_labeled, expected", [(24, 0.2), (149, 0.2), (150, 0.0)])
def test_auto_mixup_follows_the_number_of_labelled_clips(cls, n_labeled, expected):
    X, y = _data(n_labeled=n_labeled, n_unlabeled=20)
    auto = _tagger(cls, mixup="auto", max_epochs=1).fit(X, y)
    assert auto.mixup_ == expected
    # the unlabelled rows do not count, and "auto" trains as its value does
    same = _tagger(cls, mixup=expected, max_epochs=1).fit(X, y)
    assert same.mixup_ == expected
    np.testing.assert_array_equal(auto.predict_proba(X), same.predict_proba(X))


def test_sequence_tagger_mixes_up_by_default_only_with_few_labels():
    assert SequenceTagger().mixup == "auto"
    assert CRNNTagger().mixup == 0.2
    with pytest.raises(ValueError, match="mixup"):
        _tagger(SequenceTagger, mixup="always").fit(*_data())


# ------------------------------------------------------------------- band gains
def _crnn_bg(**kw):
    return _tagger(CRNNTagger, **{"mixup": 0.0, "lr": 0.02, **kw})


def test_curves_are_step_curves_of_two_to_five_bands_within_the_gain():
    curves = band_gain_curves(500, 64, 0.5, torch.Generator().manual_seed(0))
    assert curves.shape == (500, 64)
    assert curves.abs().max() <= 0.5
    steps = (curves[:, 1:] != curves[:, :-1]).sum(dim=1) + 1
    assert steps.min() >= 1 and steps.max() <= MAX_GAIN_BANDS
    # two neighbouring bands draw the same level with probability 0: each count
    # of bands shows up.
    assert set(steps.tolist()) == set(range(MIN_GAIN_BANDS, MAX_GAIN_BANDS + 1))
    # boundaries fall anywhere: every bin but the first starts a band somewhere
    starts = (curves[:, 1:] != curves[:, :-1]).any(dim=0)
    assert starts.float().mean() > 0.9
    # levels are spread over the whole range, centred on 0
    assert abs(float(curves.mean())) < 0.05
    assert curves.min() < -0.45 and curves.max() > 0.45


@pytest.mark.parametrize("n_bins", [1, 2, 3])
def test_curves_with_fewer_bins_than_bands(n_bins):
    curves = band_gain_curves(50, n_bins, 1.0, torch.Generator().manual_seed(1))
    assert curves.shape == (50, n_bins) and curves.abs().max() <= 1.0


def test_net_adds_one_curve_per_clip_on_every_frame():
    net = TaggerNet(module=torch.nn.Identity, criterion=ClipLoss, band_gain=0.3)
    x = torch.zeros(4, 5, 16)
    with private_generator(2):
        out = net._with_band_gains({"x": x, "lengths": torch.tensor([5, 3, 5, 2])})
    shifted = out["x"]
    assert torch.equal(out["lengths"], torch.tensor([5, 3, 5, 2]))
    torch.testing.assert_close(shifted, shifted[:, :1].expand_as(shifted))
    assert not torch.equal(shifted[0], shifted[1])
    with private_generator(2):
        again = net._with_band_gains(x)
    assert torch.equal(again, shifted)


def test_band_gain_off_leaves_the_batch_alone():
    net = TaggerNet(module=torch.nn.Identity, criterion=ClipLoss, band_gain=0.0)
    x = torch.ones(3, 2, 4)
    assert net._with_band_gains(x) is x


@pytest.mark.parametrize("params", [{}, {"mixup": 0.4}, {"consistency": 1.0}])
def test_band_gain_is_deterministic_and_changes_the_fit(params):
    X, y = _data()
    a = _crnn_bg(band_gain=0.5, **params).fit(X, y)
    b = _crnn_bg(band_gain=0.5, **params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    plain = _crnn_bg(band_gain=0.0, **params).fit(X, y)
    assert np.abs(a.predict_proba(X) - plain.predict_proba(X)).max() > 1e-4
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))


def test_band_gain_on_clips_of_different_lengths():
    X, y = _data()
    rng = np.random.RandomState(2)
    clips = [x[: rng.randint(3, 7)] for x in X]
    a = _crnn_bg(band_gain=0.5, mixup=0.4).fit(clips, y).predict_proba(clips)
    b = _crnn_bg(band_gain=0.5, mixup=0.4).fit(clips, y).predict_proba(clips)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(clips), 3) and np.isfinite(a).all()


def test_predictions_read_the_clips_as_they_are():
    X, y = _data(n_unlabeled=0)
    clf = _crnn_bg(band_gain=2.0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_negative_band_gain_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="band_gain"):
        _crnn_bg(band_gain=-0.1).fit(X, y)


def test_band_gain_is_on_by_default():
    assert CRNNTagger().band_gain == 0.5
