"""OFA-KD in plain MMRazor terms (ConfigurableDistiller + OFAKD connectors
and losses), and OFA mixed with other MMRazor losses: DKD's, and FitNets'
feature loss (a connector and L2Loss)."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from conftest import DIGITS_DIR, OFA_DIGITS_CFG, small_config

CONFIGURABLE_CFG = osp.join(
    DIGITS_DIR,
    'ofa-configurable_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
MIXED_CFG = osp.join(
    DIGITS_DIR, 'ofa-dkd_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
FITNETS_CFG = osp.join(
    DIGITS_DIR,
    'ofa-fitnets_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
#: The losses each config adds to OFA's.
ADDED_LOSSES = {CONFIGURABLE_CFG: set(), MIXED_CFG: {'loss_dkd'},
                FITNETS_CFG: {'loss_fitnets'}}
OFA_LOSSES = {f'loss_ofa_stage{k}' for k in (1, 2, 3, 4)} | {'loss_ofa_final'}


def build(path):
    model = Config.fromfile(path).model
    model.teacher_ckpt = None
    return MODELS.build(model)


def test_configurable_config_is_the_same_method():
    ofa, plain = build(OFA_DIGITS_CFG), build(CONFIGURABLE_CFG)
    # same parameters under the same names: one loads into the other
    plain.load_state_dict(ofa.state_dict(), strict=True)
    plain.teacher.load_state_dict(ofa.teacher.state_dict())
    ofa.train()
    plain.train()
    x = torch.randn(4, 3, 16, 16)
    samples = [DataSample().set_gt_label(i) for i in (0, 3, 5, 9)]
    expected = ofa(x, samples, mode='loss')
    got = plain(x, samples, mode='loss')
    for key, value in got.items():
        assert torch.allclose(value, expected[key], atol=1e-6), key
    assert set(got) == {k for k in expected if 'top1' not in k}
    assert {k for k in got if k.startswith('distill.')} == {
        f'distill.{name}' for name in OFA_LOSSES}


@pytest.mark.parametrize('path', [CONFIGURABLE_CFG, MIXED_CFG, FITNETS_CFG])
def test_plain_and_mixed_configs_train(path, tmp_path, digits_teacher_ckpt):
    # 32 images, batch 16: two iterations
    cfg = small_config(path, str(tmp_path), epochs=1, samples=32,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    expected = set(OFA_LOSSES) | ADDED_LOSSES[path]
    logged = {k[len('train/distill.'):] for k in hub.log_scalars
              if k.startswith('train/distill.loss')}
    assert logged == expected
    history = {
        name: hub.get_scalar(f'train/distill.{name}').data[0]
        for name in expected
    }
    for name, values in history.items():
        assert len(values) == 2, name
        assert np.all(np.isfinite(values)) and np.all(values > 0), name
        # a new batch and updated weights: the loss moves
        assert values[0] != values[1], name
    # the total loss that was minimised is the student's loss plus every
    # distillation loss of the last iteration
    total = hub.get_scalar('train/loss').current()
    parts = hub.get_scalar('train/student.loss').current() + sum(
        values[-1] for values in history.values())
    assert math.isclose(total, parts, rel_tol=1e-4)
