"""Fits in several threads or processes: one seed, bit-identical results on CPU."""

import json
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from sktriplet.embedding import TripletEmbedder
from sktriplet.nn import ConvEmbedding
from sktriplet.nn._dropout import Dropout
from sktriplet.tagging import CRNNTagger, SequenceTagger
from sktriplet.utils._seeding import private_generator

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*anchors were skipped"),
    pytest.mark.usefixtures("one_torch_thread"),
]

# Dropout makes training draw random numbers at every step, not only at
# initialisation, so two fits sharing torch's global generator would interleave.
EMBEDDER = {
    "strategy": "s2",
    "n_triplets": 32,
    "batch_size": 16,
    "segment_frames": 8,
    "frame_pool": 1,
    "loss": "triplet",
    "max_epochs": 4,
    "random_state": 0,
    "device": "cpu",
    "module__n_filters": 4,
    "module__dropout": 0.3,
}
# num_layers=2: the GRU's own inter-layer dropout is active too.
TAGGERS = {
    "sequence": (SequenceTagger, {"num_layers": 2}),
    "crnn": (CRNNTagger, {"n_filters": 2, "n_conv": 1}),
}
TAGGER = {
    "hidden_size": 4,
    "dropout": 0.3,
    "max_epochs": 4,
    "batch_size": 8,
    "device": "cpu",
    "random_state": 0,
}

# Fits two embedders in two threads that start together, as the first torch work
# of a fresh process (so the threads also race on torch's lazy imports).
TWO_THREADS_SCRIPT = """
import json, sys, threading
import numpy as np
import torch
from sktriplet.embedding import TripletEmbedder

torch.set_num_threads(1)
params, out = json.loads(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
X = rng.normal(-40, 5, size=(8, 40, 16)).astype(np.float32)
Y = np.zeros((8, 3), dtype=int)
Y[np.arange(8), np.arange(8) % 3] = 1
Y[4:] = -1
barrier = threading.Barrier(2)
results, errors = [None, None], []

def work(i):
    try:
        est = TripletEmbedder(**params)
        barrier.wait()
        results[i] = est.fit(X, Y).transform(X)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit("fit failed: " + "; ".join(errors))
np.save(out, np.stack(results))
"""


def _embedder_data():
    rng = np.random.default_rng(0)
    X = rng.normal(-40, 5, size=(8, 40, 16)).astype(np.float32)
    Y = np.zeros((8, 3), dtype=int)
    Y[np.arange(8), np.arange(8) % 3] = 1
    Y[4:] = -1
    return X, Y


def _tagger_data():
    rng = np.random.RandomState(0)
    X = rng.randn(24, 12, 16).astype(np.float32)
    y = (X[:, :, :2].mean(axis=1) > 0).astype(int)
    return X, y


def _fit_embedder(X, Y):
    return TripletEmbedder(**EMBEDDER).fit(X, Y).transform(X)


def _in_threads(fit, n_threads=2, n_rounds=3):
    """Outputs of ``fit()`` run in ``n_threads`` threads at once, ``n_rounds`` times."""
    outputs = []
    for _ in range(n_rounds):
        barrier = threading.Barrier(n_threads)

        def work():
            barrier.wait()  # the fits really overlap
            return fit()

        with ThreadPoolExecutor(n_threads) as pool:
            futures = [pool.submit(work) for _ in range(n_threads)]
            outputs += [f.result() for f in futures]
    return outputs


def _assert_bit_identical(outputs, expected):
    for out in outputs:
        assert out.dtype == expected.dtype
        assert out.tobytes() == expected.tobytes()


def test_embedders_fitted_in_threads_are_bit_identical():
    X, Y = _embedder_data()
    expected = _fit_embedder(X, Y)
    _assert_bit_identical(_in_threads(lambda: _fit_embedder(X, Y)), expected)


@pytest.mark.parametrize("name", TAGGERS)
def test_taggers_fitted_in_threads_are_bit_identical(name):
    cls, params = TAGGERS[name]
    X, y = _tagger_data()

    def fit():
        return cls(**TAGGER, **params).fit(X, y).predict_proba(X)

    expected = fit()
    _assert_bit_identical(_in_threads(fit), expected)


def test_fit_in_threads_leaves_global_torch_rng_alone():
    X, Y = _embedder_data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _in_threads(lambda: _fit_embedder(X, Y), n_rounds=1)
    assert torch.equal(torch.rand(3), expected)


def test_fits_in_fresh_processes_are_bit_identical(tmp_path):
    # Each fresh process fits two embedders in two threads as its first torch
    # work: they must not crash on torch's lazy imports (a first optimizer imports
    # torch._dynamo), and every process must match the fit in this process.
    X, Y = _embedder_data()
    expected = _fit_embedder(X, Y)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    outs = [tmp_path / f"out{i}.npy" for i in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_THREADS_SCRIPT, json.dumps(EMBEDDER), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    for out in outs:
        results = np.load(out)
        _assert_bit_identical(list(results), expected)


def test_dropout_draws_from_the_private_generator():
    x = torch.ones(4, 50)
    layer = Dropout(0.5).train()
    torch.manual_seed(0)
    outside = layer(x)
    torch.manual_seed(0)
    assert torch.equal(outside, torch.nn.Dropout(0.5).train()(x))  # torch's own

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with private_generator(7):
        a = layer(x)
    with private_generator(7):
        b = layer(x)
    with private_generator(8):
        c = layer(x)
    assert torch.equal(torch.rand(3), expected)  # global generator untouched
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(layer.eval()(x), x)


def test_module_pickled_with_torch_dropout_gets_private_dropout():
    net = ConvEmbedding(n_mels=8, n_filters=2, n_blocks=2, dropout=0.2)
    for i, layer in enumerate(net.blocks):  # as pickled by earlier versions
        if isinstance(layer, Dropout):
            net.blocks[i] = torch.nn.Dropout(layer.p)
    loaded = pickle.loads(pickle.dumps(net))
    drops = [m for m in loaded.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 2 and all(type(m) is Dropout and m.p == 0.2 for m in drops)
    assert loaded.state_dict().keys() == net.state_dict().keys()


def test_fitted_models_with_dropout_pickle():
    X, Y = _embedder_data()
    emb = TripletEmbedder(**EMBEDDER).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(emb))
    assert loaded.transform(X).tobytes() == emb.transform(X).tobytes()
    loaded.set_params(warm_start=True).fit(X, Y)  # continues on its own generator


def test_notes_on_threads_in_docstrings():
    for cls in (TripletEmbedder, SequenceTagger, CRNNTagger):
        doc = cls.__doc__
        assert "Notes\n    -----\n    Fits running at once" in doc
        assert '(user guide, "Reproducibility and' in doc
        assert "%(" not in doc
