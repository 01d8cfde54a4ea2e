import pytest
import torch

from sktriplet.nn import ConvEmbedding, TripletLoss, triplet_loss


@pytest.mark.parametrize(
    "n_mels, n_filters, n_blocks, pool_freq, dim",
    [
        (64, 64, 3, 4, 64),
        (64, 8, 3, 4, 8),
        (40, 8, 3, 4, 8),
        (64, 4, 2, 4, 16),
        (1, 2, 3, 4, 2),
    ],
)
def test_conv_embedding_shapes(n_mels, n_filters, n_blocks, pool_freq, dim):
    net = ConvEmbedding(
        n_mels, n_filters=n_filters, n_blocks=n_blocks, pool_freq=pool_freq
    )
    assert net.dim == dim
    out = net(torch.randn(3, 10, n_mels))
    assert out.shape == (3, 10, dim)
    assert net.embed_segments(torch.randn(3, 10, n_mels)).shape == (3, dim)
    net.pooling = "flatten"
    assert net.embed_segments(torch.randn(3, 10, n_mels)).shape == (3, 10 * dim)


def test_conv_embedding_paper_architecture():
    net = ConvEmbedding()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(convs) == 3 and len(pools) == 3
    assert all(c.out_channels == 64 and c.kernel_size == (3, 3) for c in convs)
    assert all(tuple(p.kernel_size) == (1, 4) for p in pools)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 3
    assert net.dim == 64


def test_conv_embedding_mean_pooling_and_dropout():
    net = ConvEmbedding(16, n_filters=4, dropout=0.5)
    assert net.pooling == "mean"
    assert any(isinstance(m, torch.nn.Dropout) for m in net.modules())
    x = torch.randn(2, 7, 16)
    net.eval()
    assert torch.allclose(net.embed_segments(x), net(x).mean(1))


def test_conv_embedding_time_resolution_kept():
    # frequency pooling only: a change in one frame stays local in time
    net = ConvEmbedding(16, n_filters=4).eval()
    x = torch.randn(1, 30, 16)
    y = x.clone()
    y[0, 0] += 5.0
    diff = (net(x) - net(y)).abs().sum(-1)[0]
    assert diff[:4].sum() > 0
    assert torch.all(diff[4:] == 0)


def test_conv_embedding_channels_last_same_output():
    torch.manual_seed(0)
    a = ConvEmbedding(16, n_filters=4, channels_last=False).eval()
    b = ConvEmbedding(16, n_filters=4).eval()
    b.load_state_dict(a.state_dict())
    assert b.blocks[4].weight.is_contiguous(memory_format=torch.channels_last)
    assert not a.blocks[4].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_conv_embedding_eval_folds_batchnorm_exactly(channels_last, dropout):
    torch.manual_seed(0)
    net = ConvEmbedding(
        n_mels=32, n_filters=8, dropout=dropout, channels_last=channels_last
    )
    for _ in range(3):  # running statistics away from their initial values
        net(3 * torch.randn(4, 20, 32) + 1)
    net.eval()
    x = torch.randn(3, 20, 32)
    h = x.unsqueeze(1)
    if channels_last:
        h = h.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = net.blocks(h)  # Conv, BatchNorm, ReLU, MaxPool one by one
        reference = reference.permute(0, 2, 1, 3).reshape(3, 20, -1)
        torch.testing.assert_close(net(x), reference, rtol=1e-5, atol=1e-5)
    # gradients still flow to the BatchNorm parameters through the folded weights
    net(x).sum().backward()
    assert net.blocks[1].weight.grad is not None
    # training mode normalizes with the batch statistics, unfolded
    net.train()
    with torch.no_grad():
        assert not torch.allclose(net(x), reference, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_mels": 0}, "n_mels"),
        ({"n_filters": 2.5}, "n_filters"),
        ({"pooling": "max"}, "pooling"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_conv_embedding_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvEmbedding(**kwargs)


def test_conv_embedding_bad_input():
    net = ConvEmbedding(16, n_filters=2)
    with pytest.raises(ValueError, match="16"):
        net(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(5, 16))


def test_triplet_loss_matches_equation():
    torch.manual_seed(0)
    a, p, n = torch.randn(3, 5, 4).unbind(0)
    expected = torch.relu(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + 0.7)
    torch.testing.assert_close(triplet_loss(a, p, n, 0.7, "none"), expected)
    torch.testing.assert_close(triplet_loss(a, p, n, 0.7), expected.mean())
    torch.testing.assert_close(triplet_loss(a, p, n, 0.7, "sum"), expected.sum())
    torch.testing.assert_close(TripletLoss(0.7)(a, p, n), expected.mean())
    loss, active = triplet_loss(a, p, n, 0.7, return_active=True)
    assert float(active) == pytest.approx(float((expected > 0).float().mean()))


def test_triplet_loss_hinge_and_gradients():
    a = torch.zeros(2, 3, requires_grad=True)
    p = torch.tensor([[0.1, 0.0, 0.0], [3.0, 0.0, 0.0]])
    n = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    losses = triplet_loss(a, p, n, 1.0, "none")
    assert losses[0] == 0  # easy triplet: inactive
    assert float(losses[1].detach()) == pytest.approx(9.0 - 0.25 + 1.0)
    losses.sum().backward()
    assert torch.all(a.grad[0] == 0)


def test_triplet_loss_flattens_and_validates():
    a = torch.randn(4, 3, 2)
    assert triplet_loss(a, a, a + 1, 1.0, "none").shape == (4,)
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(a, a[:2], a)
    with pytest.raises(ValueError, match="reduction"):
        triplet_loss(a, a, a, reduction="max")
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(a, a, a, margin=-1)
    empty = torch.zeros(0, 3)
    assert float(triplet_loss(empty, empty, empty)) == 0.0


@pytest.mark.parametrize("source_dropout, target_dropout", [(0.0, 0.2), (0.2, 0.0)])
def test_conv_embedding_loads_weights_across_dropout(source_dropout, target_dropout):
    # Dropout shifts the layer numbers of ``blocks`` but has no weights.
    torch.manual_seed(0)
    source = ConvEmbedding(16, n_filters=4, dropout=source_dropout)
    source.blocks[1].running_mean.uniform_()
    target = ConvEmbedding(16, n_filters=4, dropout=target_dropout)
    target.load_state_dict(source.state_dict())
    x = torch.randn(2, 12, 16)
    torch.testing.assert_close(target.eval()(x), source.eval()(x))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        ConvEmbedding(16, n_filters=4, n_blocks=2).load_state_dict(source.state_dict())


@pytest.mark.parametrize("dropout", [0.0, 0.2, 0.5])
def test_conv_embedding_block_dropout_reads_the_layers(dropout):
    net = ConvEmbedding(16, n_filters=4, dropout=dropout)
    assert net.block_dropout == dropout
    assert any(isinstance(layer, torch.nn.Dropout) for layer in net.blocks) == (
        dropout > 0
    )
