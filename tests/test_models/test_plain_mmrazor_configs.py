"""OFA-KD in plain MMRazor terms (ConfigurableDistiller + OFAKD connectors
and losses) and OFA mixed with DKD."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from conftest import CONFIG_DIR, OFA_DIGITS_CFG, small_config

CONFIGURABLE_CFG = osp.join(
    CONFIG_DIR, 'ofa', 'ofa-configurable_resnet18-w16_vit-d64_1xb64-30e_'
    'digits.py')
MIXED_CFG = osp.join(CONFIG_DIR, 'ofa',
                     'ofa-dkd_resnet18-w16_vit-d64_1xb64-30e_digits.py')


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
    x = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in (0, 3, 5, 9)]
    expected = ofa(x, samples, mode='loss')
    got = plain(x, samples, mode='loss')
    for key, value in got.items():
        assert torch.allclose(value, expected[key], atol=1e-6), key
    assert set(got) == {k for k in expected if 'top1' not in k}


@pytest.mark.parametrize('path', [CONFIGURABLE_CFG, MIXED_CFG])
def test_plain_and_mixed_configs_train(path, tmp_path, digits_teacher_ckpt):
    cfg = small_config(path, str(tmp_path), epochs=1, samples=16,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert torch.isfinite(
        torch.as_tensor(hub.get_scalar('train/loss').current()))
    assert hub.get_scalar('train/distill.loss_ofa_stage1') is not None
    if path == MIXED_CFG:
        dkd = hub.get_scalar('train/distill.loss_dkd').current()
        assert dkd > 0
