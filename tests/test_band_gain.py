"""Random gains per mel band in the CRNN's training (``band_gain > 0``)."""

import pickle

import numpy as np
import pytest
import torch

from sktriplet.tagging import CRNNTagger
from sktriplet.tagging._training import (
    MAX_GAIN_BANDS,
    MIN_GAIN_BANDS,
    ClipLoss,
    TaggerNet,
    band_gain_curves,
)
from sktriplet.utils._seeding import private_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n_labeled=24, n_unlabeled=16, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_labeled + n_unlabeled, 6, 8).astype(np.float32)
    y = (X[:, :, :3].mean(axis=1) > 0).astype(int)
    y[n_labeled:] = -1
    return X, y


def _crnn(**kw):
    params = {
        "n_filters": 2,
        "n_conv": 1,
        "pool_freq": 2,
        "hidden_size": 4,
        "max_epochs": 3,
        "lr": 0.02,
        "mixup": 0.0,
        "device": "cpu",
        "random_state": 0,
    }
    return CRNNTagger(**{**params, **kw})


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
    a = _crnn(band_gain=0.5, **params).fit(X, y)
    b = _crnn(band_gain=0.5, **params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    plain = _crnn(band_gain=0.0, **params).fit(X, y)
    assert np.abs(a.predict_proba(X) - plain.predict_proba(X)).max() > 1e-4
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))


def test_band_gain_on_clips_of_different_lengths():
    X, y = _data()
    rng = np.random.RandomState(2)
    clips = [x[: rng.randint(3, 7)] for x in X]
    a = _crnn(band_gain=0.5, mixup=0.4).fit(clips, y).predict_proba(clips)
    b = _crnn(band_gain=0.5, mixup=0.4).fit(clips, y).predict_proba(clips)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(clips), 3) and np.isfinite(a).all()


def test_predictions_read_the_clips_as_they_are():
    X, y = _data(n_unlabeled=0)
    clf = _crnn(band_gain=2.0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_negative_band_gain_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="band_gain"):
        _crnn(band_gain=-0.1).fit(X, y)


def test_default_band_gain_and_old_pickles_train_without_it():
    assert CRNNTagger().band_gain == 0.5
    X, y = _data()
    clf = _crnn().fit(X, y)
    state = clf.__getstate__()
    del state["band_gain"]
    old = CRNNTagger.__new__(CRNNTagger)
    old.__setstate__(state)
    assert old.get_params()["band_gain"] == 0.0
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
