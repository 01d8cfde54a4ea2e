"""The taggers' mixup: each training batch mixed with a shuffled copy of itself."""

import pickle

import numpy as np
import pytest
import torch

from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.tagging._training import ClipLoss, TaggerNet
from sktriplet.utils._seeding import private_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TAGGERS = [SequenceTagger, CRNNTagger]


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


def _net(mixup):
    return TaggerNet(module=torch.nn.Identity, criterion=ClipLoss, mixup=mixup)


def test_mixed_batch_is_a_convex_mixture_with_a_shuffled_copy():
    x = torch.arange(24, dtype=torch.float32).reshape(4, 2, 3)
    lengths = torch.tensor([2, 1, 2, 1])
    with private_generator(3):
        (mixed, mixed_lengths), (lam, perm) = _net(0.4)._mixed((x, lengths))
    assert 0.0 < lam < 1.0
    assert sorted(perm.tolist()) == [0, 1, 2, 3]
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    assert torch.equal(mixed_lengths, torch.maximum(lengths, lengths[perm]))
    with private_generator(3):
        again, _ = _net(0.4)._mixed({"x": x, "lengths": lengths})
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
    plain = _tagger(cls, **params).fit(X, y)
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


def test_old_pickles_train_without_mixup():
    X, y = _data()
    clf = _tagger(CRNNTagger).fit(X, y)
    state = clf.__getstate__()
    del state["mixup"]
    old = CRNNTagger.__new__(CRNNTagger)
    old.__setstate__(state)
    assert old.get_params()["mixup"] == 0.0
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
