"""BatchMeanDKDLoss against the DKD formula written out independently."""
import math

import pytest
import torch
from mmrazor.registry import MODELS

import ofakd_mm  # noqa: F401


def reference_dkd(z_s, z_t, target, tau, alpha, beta):
    """DKD of one sample with plain Python floats: binary KL of the target
    probability plus KL between the renormalised non-target distributions,
    both times tau**2."""
    def softmax(z):
        m = max(z)
        e = [math.exp((v - m) / tau) for v in z]
        s = sum(e)
        return [v / s for v in e]

    p_s, p_t = softmax(z_s), softmax(z_t)
    bs = [p_s[target], 1 - p_s[target]]
    bt = [p_t[target], 1 - p_t[target]]
    tckd = sum(t * math.log(t / s) for t, s in zip(bt, bs))
    rest = [c for c in range(len(z_s)) if c != target]
    qs = softmax([z_s[c] for c in rest])
    qt = softmax([z_t[c] for c in rest])
    nckd = sum(t * math.log(t / s) for t, s in zip(qt, qs))
    return (alpha * tckd + beta * nckd) * tau**2


@pytest.mark.parametrize('tau,alpha,beta', [(1.0, 1.0, 0.5), (4.0, 1.0, 8.0)])
def test_dkd_matches_formula_and_is_a_batch_mean(tau, alpha, beta):
    torch.manual_seed(0)
    z_s, z_t = torch.randn(6, 10) * 3, torch.randn(6, 10) * 3
    labels = torch.tensor([0, 3, 9, 3, 5, 1])
    loss = MODELS.build(
        dict(_scope_='mmrazor', type='BatchMeanDKDLoss', tau=tau,
             alpha=alpha, beta=beta, loss_weight=2.0))
    expected = sum(
        reference_dkd(z_s[i].tolist(), z_t[i].tolist(), int(labels[i]), tau,
                      alpha, beta) for i in range(6)) / 6
    assert loss(z_s, z_t, labels).item() == pytest.approx(
        2.0 * expected, rel=1e-4)
    # Independent of the batch size (mmrazor's DKDLoss doubles here).
    doubled = loss(z_s.repeat(2, 1), z_t.repeat(2, 1), labels.repeat(2))
    assert doubled.item() == pytest.approx(2.0 * expected, rel=1e-4)


def test_dkd_soft_labels_use_their_argmax():
    torch.manual_seed(1)
    z_s, z_t = torch.randn(4, 5), torch.randn(4, 5)
    hard = torch.tensor([2, 0, 4, 1])
    # A mixup-like soft target: 0.6 on the label, 0.4 on another class.
    soft = torch.full((4, 5), 0.0)
    soft[torch.arange(4), hard] = 0.6
    soft[torch.arange(4), (hard + 1) % 5] = 0.4
    loss = MODELS.build(dict(_scope_='mmrazor', type='BatchMeanDKDLoss'))
    assert torch.allclose(loss(z_s, z_t, soft), loss(z_s, z_t, hard))
    z_s.requires_grad_(True)
    loss(z_s, z_t, soft).backward()
    assert torch.isfinite(z_s.grad).all()


def test_dkd_rejects_bad_inputs():
    loss = MODELS.build(dict(_scope_='mmrazor', type='BatchMeanDKDLoss'))
    with pytest.raises(ValueError, match='same shape'):
        loss(torch.randn(2, 5), torch.randn(2, 6), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='class index'):
        loss(torch.randn(2, 5), torch.randn(2, 5), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match='tau'):
        MODELS.build(dict(_scope_='mmrazor', type='BatchMeanDKDLoss', tau=0))
