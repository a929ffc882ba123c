"""Every distillation loss that MMRazor 1.0.0 exports
(``mmrazor.models.losses.__all__``) builds from its registry and runs forward
and backward on the modern stack; ``KDSoftCELoss``, whose soft
cross-entropy MMRazor imports from mmcls, equals mmpretrain's."""
from typing import Any, Callable, Dict, Tuple

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.losses import CrossEntropyLoss
from mmpretrain.structures import DataSample
from mmrazor.models import losses as mmrazor_losses
from mmrazor.registry import MODELS

B, C = 4, 10  # batch (RKD's angles need 3 samples), classes


def logits() -> torch.Tensor:
    return torch.randn(B, C, requires_grad=True)


def feature_map(channels: int = 8, size: int = 4) -> torch.Tensor:
    return torch.randn(B, channels, size, size, requires_grad=True)


def crd_inputs() -> Dict[str, Any]:
    samples = []
    for i in range(B):
        sample = DataSample()
        sample.set_data(
            dict(
                sample_idx=torch.tensor(i),
                contrast_sample_idxs=torch.randint(0, 16, (9, ))))
        samples.append(sample)
    return dict(
        s_feats=torch.randn(B, 4, requires_grad=True),
        t_feats=torch.randn(B, 4),
        data_samples=samples)


def fbkd_inputs() -> Dict[str, Any]:
    """FBKD's inputs are its connectors' outputs; the student feature map
    under them is what it trains (``leaf``)."""
    student = MODELS.build(
        dict(_scope_='mmrazor', type='FBKDStudentConnector', in_channels=8))
    teacher = MODELS.build(
        dict(_scope_='mmrazor', type='FBKDTeacherConnector', in_channels=8))
    s_feature = feature_map()
    return dict(
        s_input=student(s_feature),
        t_input=teacher(torch.randn(B, 8, 4, 4)),
        leaf=s_feature)


def with_labels(**inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
    return dict(inputs, gt_labels=torch.randint(0, C, (B, )))


#: Each loss: its config (beyond ``type``) and the inputs of its forward;
#: the input that requires grad (or ``leaf``) is what the loss trains.
CASES: Dict[str, Tuple[Dict[str, Any], Callable[[], Dict[str, Any]]]] = {
    'ABLoss': ({}, lambda: dict(s_feature=feature_map(),
                                t_feature=torch.randn(B, 8, 4, 4))),
    'ATLoss': ({}, lambda: dict(s_feature=feature_map(8),
                                t_feature=torch.randn(B, 16, 4, 4))),
    'ActivationLoss': ({}, lambda: dict(feat_T=torch.randn(
        B, 16, requires_grad=True))),
    'AngleWiseRKD': ({}, lambda: dict(preds_S=logits(),
                                      preds_T=torch.randn(B, 16))),
    'CRDLoss': (dict(neg_num=8, sample_n=16, dim_out=4), crd_inputs),
    'ChannelWiseDivergence': ({}, lambda: dict(
        preds_S=feature_map(), preds_T=torch.randn(B, 8, 4, 4))),
    'CrossEntropyLoss': ({}, lambda: dict(preds_S=logits(),
                                          preds_T=torch.randn(B, C))),
    'DISTLoss': ({}, lambda: dict(logits_S=logits(),
                                  logits_T=torch.randn(B, C))),
    'DKDLoss': ({}, lambda: with_labels(preds_S=logits(),
                                        preds_T=torch.randn(B, C))),
    'DistanceWiseRKD': ({}, lambda: dict(preds_S=logits(),
                                         preds_T=torch.randn(B, 16))),
    'FBKDLoss': ({}, fbkd_inputs),
    'FTLoss': ({}, lambda: dict(s_feature=feature_map(),
                                t_feature=torch.randn(B, 8, 4, 4))),
    'InformationEntropyLoss': ({}, lambda: dict(preds_T=logits())),
    'KDSoftCELoss': (dict(tau=4.0), lambda: dict(
        preds_S=logits(), preds_T=torch.randn(B, C))),
    'KLDivergence': (dict(tau=4.0), lambda: dict(
        preds_S=logits(), preds_T=torch.randn(B, C))),
    'L1Loss': ({}, lambda: dict(s_feature=feature_map(),
                                t_feature=torch.randn(B, 8, 4, 4))),
    'L2Loss': ({}, lambda: dict(s_feature=feature_map(),
                                t_feature=torch.randn(B, 8, 4, 4))),
    'MGDLoss': ({}, lambda: dict(preds_S=feature_map(),
                                 preds_T=torch.randn(B, 8, 4, 4))),
    'OFDLoss': ({}, lambda: dict(s_feature=feature_map(),
                                 t_feature=torch.randn(B, 8, 4, 4))),
    'OnehotLikeLoss': ({}, lambda: dict(preds_T=logits())),
    'PKDLoss': ({}, lambda: dict(preds_S=feature_map(8, 2),
                                 preds_T=torch.randn(B, 8, 4, 4))),
    'WSLD': (dict(num_classes=C), lambda: with_labels(
        student=logits(), teacher=torch.randn(B, C))),
}


def test_every_exported_loss_has_a_case():
    assert sorted(CASES) == sorted(mmrazor_losses.__all__)


@pytest.mark.parametrize('name', sorted(CASES))
def test_loss_forward_backward(name):
    torch.manual_seed(0)
    kwargs, make_inputs = CASES[name]
    loss_fn = MODELS.build(dict(_scope_='mmrazor', type=name, **kwargs))
    inputs = make_inputs()
    leaf = inputs.pop('leaf', None)
    if leaf is None:
        leaf, = [v for v in inputs.values()
                 if isinstance(v, torch.Tensor) and v.requires_grad]
    loss = loss_fn(**inputs)
    # a scalar (CRDLoss: a one-element tensor, which the Runner averages)
    assert loss.numel() == 1 and torch.isfinite(loss).all(), loss
    loss.sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    assert leaf.grad.abs().sum() > 0, name


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_kd_soft_ce_loss_is_mmpretrain_soft_cross_entropy(reduction, tau):
    """KDSoftCELoss(preds_S, preds_T) is mmpretrain's soft cross-entropy of
    preds_S / tau against softmax(preds_T / tau), times tau ** 2."""
    torch.manual_seed(0)
    preds_S, preds_T = torch.randn(B, C), torch.randn(B, C)
    ours = MODELS.build(
        dict(_scope_='mmrazor', type='KDSoftCELoss', tau=tau,
             reduction=reduction, loss_weight=0.5))(preds_S, preds_T)
    mmpretrain = CrossEntropyLoss(
        use_soft=True, reduction=reduction, loss_weight=0.5)(
            preds_S / tau, F.softmax(preds_T / tau, dim=-1))
    assert ours.shape == mmpretrain.shape
    torch.testing.assert_close(ours, mmpretrain * tau**2)
