"""TripletEmbedder(fine_tune=...): pre-training, then fine-tuning on the labels."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktriplet.embedding import TripletEmbedder
from sktriplet.nn import ConvEmbedding
from sktriplet.tagging import CRNNTagger


def _data(n=16, frames=120, mels=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, frames, mels)).astype(np.float32)
    y = np.zeros((n, 2), np.int64)
    y[::2, 0] = 1
    y[1::2, 1] = 1
    X[y[:, 0] == 1, :, :2] += 2.0  # class 0 is loud in the low bands
    y[n // 2 :] = -1  # half the clips unlabelled
    return X, y


def _embedder(**params):
    params = {
        "strategy": "s2",
        "n_triplets": 32,
        "batch_size": 8,
        "segment_frames": 40,
        "n_mels": 8,
        "max_epochs": 2,
        "module__n_filters": 4,
        "random_state": 0,
        "fine_tune__max_epochs": 3,
        "fine_tune__hidden_size": 4,
        **params,
    }
    return TripletEmbedder(**params)


def _cnn_state(emb):
    return {k: v.clone() for k, v in emb.net_.module_.state_dict().items()}


def test_off_by_default_keeps_the_triplet_cnn():
    X, y = _data()
    emb = _embedder(fine_tune=False).fit(X, y)
    assert emb.fine_tune_history_ is None
    unlabelled = np.full_like(y, -1)
    auto_without_labels = _embedder(strategy="s1", fine_tune="auto").fit(X, unlabelled)
    assert auto_without_labels.fine_tune_history_ is None
    unsupervised = _embedder(strategy="s1", fine_tune=False).fit(X, unlabelled)
    np.testing.assert_array_equal(
        auto_without_labels.transform(X), unsupervised.transform(X)
    )


@pytest.mark.parametrize("fine_tune", [True, "auto"])
def test_fine_tuning_trains_the_cnn_further_on_the_labels(fine_tune):
    X, y = _data()
    plain = _embedder(fine_tune=False).fit(X, y)
    tuned = _embedder(fine_tune=fine_tune).fit(X, y)
    # The triplet epochs are the same; only the fine-tuning comes on top.
    assert len(tuned.history_) == len(plain.history_) == 2
    assert len(tuned.fine_tune_history_) == 3
    assert "train_loss" in tuned.fine_tune_history_[-1]
    before, after = _cnn_state(plain), _cnn_state(tuned)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    Z = tuned.transform(X)
    assert Z.shape == plain.transform(X).shape
    assert np.isfinite(Z).all()


def test_fine_tuner_is_a_supervised_crnn_started_from_the_triplet_cnn():
    X, y = _data()
    plain = _embedder(fine_tune=False).fit(X, y)
    tagger = plain._make_fine_tuner("cpu", 7)
    assert isinstance(tagger, CRNNTagger)
    assert tagger.frame_pool == 1 and tagger.standardize is False
    # No mean teacher by default; input_noise is the one fine_tune__consistency
    # > 0 would use.
    assert tagger.consistency == 0.0 and tagger.input_noise == 0.1
    assert tagger.mixup == 0.2 and tagger.band_gain == 0.5
    assert (tagger.n_filters, tagger.n_conv, tagger.pool_freq) == (4, 3, 4)
    assert tagger.max_epochs == 3 and tagger.hidden_size == 4
    assert tagger.random_state == 7
    init = ConvEmbedding(n_mels=8, n_filters=4, dropout=tagger.dropout)
    init.load_state_dict(tagger.cnn_init)  # a copy of the triplet CNN's weights
    for k, v in plain.net_.module_.state_dict().items():
        assert torch.equal(init.state_dict()[k], v.cpu())


def test_embedder_keeps_the_fitted_crnns_front_end(monkeypatch):
    from sktriplet.embedding._fine_tune import FineTuneMixin

    made = []
    make = FineTuneMixin._make_fine_tuner

    def spy(self, device, seed):
        made.append(make(self, device, seed))
        return made[-1]

    monkeypatch.setattr(FineTuneMixin, "_make_fine_tuner", spy)
    X, y = _data()
    emb = _embedder(fine_tune=True).fit(X, y)
    (tagger,) = made
    assert len(tagger.history_) == len(emb.fine_tune_history_) == 3
    assert "batches" not in emb.fine_tune_history_[-1]  # grows with the data
    assert emb.fine_tune_history_[-1, "train_loss"] == tagger.history_[-1, "train_loss"]
    kept = emb.net_.module_.state_dict()
    for k, v in tagger.module_.cnn.state_dict().items():
        assert torch.equal(kept[k].cpu(), v)


def test_fine_tuning_is_deterministic_and_pickles():
    X, y = _data()
    a = _embedder(fine_tune=True).fit(X, y)
    b = _embedder(fine_tune=True).fit(X, y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.transform(X), c.transform(X))
    other = _embedder(fine_tune=True, random_state=1).fit(X, y)
    assert not np.array_equal(a.transform(X), other.transform(X))


def test_fine_tune_params_are_routed_and_cloned():
    emb = _embedder(fine_tune=True, fine_tune__consistency=1.0)
    params = emb.get_params()
    assert params["fine_tune__consistency"] == 1.0
    assert clone(emb).get_params()["fine_tune__max_epochs"] == 3
    emb.set_params(fine_tune__max_epochs=1)
    X, y = _data()
    assert len(emb.fit(X, y).fine_tune_history_) == 1
    assert emb._make_fine_tuner("cpu", 0).consistency == 1.0
    emb.set_params(fine_tune__band_gain=0.0)
    assert emb._make_fine_tuner("cpu", 0).band_gain == 0.0


def test_mean_teacher_fine_tuning_and_clips_of_any_length():
    X, y = _data()
    clips = [X[i, : 80 + 5 * i] for i in range(len(X))]
    emb = _embedder(fine_tune=True, fine_tune__consistency=1.0).fit(clips, y)
    Z = emb.transform(clips)
    assert [len(z) for z in Z] == [-(-len(c) // 10) for c in clips]


def test_embedder_dropout_reaches_the_fine_tuned_front_end():
    X, y = _data()
    emb = _embedder(fine_tune=True, module__dropout=0.2).fit(X, y)
    assert emb._make_fine_tuner("cpu", 0).dropout == 0.2
    assert np.isfinite(emb.transform(X)).all()


def _dropout_rates(module):
    return [m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)]


def test_dropout_by_default_in_both_stages_and_none_on_request():
    X, y = _data()
    emb = _embedder(fine_tune=True).fit(X, y)
    assert "module__dropout" not in emb.get_params()  # an embedder default
    assert _dropout_rates(emb.net_.module_) == [0.2, 0.2, 0.2]
    assert emb._make_fine_tuner("cpu", 0).dropout == 0.2
    paper = _embedder(fine_tune=True, module__dropout=0.0).fit(X, y)
    assert _dropout_rates(paper.net_.module_) == []
    assert paper._make_fine_tuner("cpu", 0).dropout == 0.0


def _as_fitted_before_default_dropout(X, y):
    """A model fitted without Dropout layers, pickled without ``module__dropout``."""
    old = _embedder(fine_tune=True, module__dropout=0.0).fit(X, y)
    del old.module__dropout
    return old


def test_models_fitted_before_default_dropout_keep_none():
    X, y = _data()
    old = _as_fitted_before_default_dropout(X, y)
    expected = old.transform(X)
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.get_params()["module__dropout"] == 0.0
    np.testing.assert_array_equal(loaded.transform(X), expected)
    assert _dropout_rates(clone(loaded).fit(X, y).net_.module_) == []
    # Without the parameter, a warm start still fine-tunes the module it has.
    del loaded.module__dropout
    loaded.set_params(warm_start=True).fit(X, y)
    assert _dropout_rates(loaded.net_.module_) == []


def test_one_dimensional_labels():
    X, y = _data()
    labels = np.where(y[:, 0] == 1, "dog", "cat").astype(object)
    labels[y[:, 0] == -1] = "-1"
    emb = _embedder(fine_tune=True).fit(X, labels)
    assert len(emb.fine_tune_history_) == 3


def test_errors_name_the_parameter():
    X, y = _data()
    with pytest.raises(ValueError, match="fine_tune=True needs labelled clips"):
        _embedder(strategy="s1", fine_tune=True).fit(X, np.full_like(y, -1))
    with pytest.raises(ValueError, match="fine_tune=True needs labelled clips"):
        _embedder(strategy="s1", fine_tune=True).fit(X)
    with pytest.raises(ValueError, match="fine_tune__n_filters cannot be set"):
        _embedder(fine_tune=True, fine_tune__n_filters=8).fit(X, y)
    with pytest.raises(ValueError, match="fine_tune__colour is not a CRNNTagger"):
        _embedder(fine_tune=True, fine_tune__colour=1).fit(X, y)
    with pytest.raises(ValueError, match="fine_tune"):
        _embedder(fine_tune="yes").fit(X, y)


def test_models_pickled_before_fine_tuning_load_without_it():
    X, y = _data()
    emb = _embedder(fine_tune=False).fit(X, y)
    state = emb.__getstate__()
    for name in ("fine_tune", "fine_tune_history_"):
        state.pop(name)
    old = TripletEmbedder.__new__(TripletEmbedder)
    old.__setstate__(state)
    assert old.fine_tune is False and old.fine_tune_history_ is None
    np.testing.assert_array_equal(old.transform(X), emb.transform(X))
