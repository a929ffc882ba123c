import math

import pytest
import torch
import torch.nn.functional as F

from ofakd_mm.models.losses import OFAKDLoss


def reference_ofa_loss(z_s, z_t, labels, eps, tau):
    """The paper's loss (Hao et al., NeurIPS 2023, Sec. 3.3), element by
    element."""
    batch, num_classes = z_s.shape
    total = 0.0
    for b in range(batch):
        if labels.dim() == 2:
            target = int(max(range(num_classes), key=lambda c: labels[b, c]))
        else:
            target = int(labels[b])
        exp_t = [math.exp(float(z_t[b, c]) / tau) for c in range(num_classes)]
        exp_s = [math.exp(float(z_s[b, c]) / tau) for c in range(num_classes)]
        sum_t, sum_s = sum(exp_t), sum(exp_s)
        for c in range(num_classes):
            p_t = exp_t[c] / sum_t
            y = 1.0 if c == target else 0.0
            weight = (p_t + y)**eps - y
            total -= weight * math.log(exp_s[c] / sum_s)
    return total / batch


@pytest.mark.parametrize('eps', [1.0, 1.2, 1.5, 2.0])
@pytest.mark.parametrize('tau', [1.0, 4.0])
@pytest.mark.parametrize('soft', [False, True])
def test_matches_spec_formula(eps, tau, soft):
    g = torch.Generator().manual_seed(0)
    z_s = torch.randn(4, 7, generator=g) * 3
    z_t = torch.randn(4, 7, generator=g) * 3
    hard = torch.tensor([0, 3, 6, 2])
    labels = hard
    if soft:  # label smoothing / mixup: the argmax is the target
        labels = torch.full((4, 7), 0.05)
        labels[torch.arange(4), hard] = 0.7
    loss = OFAKDLoss(eps=eps, temperature=tau, loss_weight=0.5)(
        z_s, z_t, labels)
    expected = 0.5 * reference_ofa_loss(z_s, z_t, labels, eps, tau)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_eps_one_is_soft_target_cross_entropy():
    z_s, z_t = torch.randn(8, 10), torch.randn(8, 10)
    labels = torch.randint(0, 10, (8, ))
    loss = OFAKDLoss(eps=1.0, temperature=2.0)(z_s, z_t, labels)
    soft_ce = -(F.softmax(z_t / 2, 1) * F.log_softmax(z_s / 2, 1)).sum(1)
    assert loss.item() == pytest.approx(soft_ce.mean().item(), rel=1e-6)


def test_gradcheck_float64():
    z_s = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    z_t = torch.randn(3, 5, dtype=torch.float64)
    labels = torch.tensor([1, 0, 4])
    loss = OFAKDLoss(eps=1.5, temperature=2.0)
    assert torch.autograd.gradcheck(lambda s: loss(s, z_t, labels), (z_s, ))


def test_gradient_flows_to_student_only():
    z_s = torch.randn(2, 4, requires_grad=True)
    z_t = torch.randn(2, 4, requires_grad=True)
    OFAKDLoss(eps=1.2)(z_s, z_t, torch.tensor([0, 1])).backward()
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0
    assert z_t.grad is None


def test_extreme_logits_are_finite():
    z_s = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]],
                       requires_grad=True)
    z_t = torch.tensor([[-1e4, 1e4, 0.0], [1e4, -1e4, 0.0]])
    loss = OFAKDLoss(eps=1.5)(z_s, z_t, torch.tensor([2, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z_s.grad).all()


def test_finite_under_bf16_autocast():
    linear = torch.nn.Linear(16, 10)
    x = torch.randn(4, 16) * 100
    with torch.autocast('cpu', dtype=torch.bfloat16):
        z_s = linear(x)
        z_t = linear(x.flip(0))
        assert z_s.dtype == torch.bfloat16
        loss = OFAKDLoss(eps=1.5)(z_s, z_t, torch.tensor([1, 2, 3, 4]))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize('kwargs', [dict(eps=0), dict(eps=-1.0),
                                    dict(temperature=0.0)])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match='must be > 0'):
        OFAKDLoss(**kwargs)


def test_rejects_class_count_mismatch():
    loss = OFAKDLoss()
    with pytest.raises(ValueError, match='num_classes'):
        loss(torch.randn(2, 10), torch.randn(2, 100), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='more classes'):
        loss(torch.randn(2, 10), torch.randn(2, 10), torch.tensor([0, 12]))
    with pytest.raises(ValueError, match='soft labels'):
        loss(torch.randn(2, 10), torch.randn(2, 10), torch.rand(2, 9))
