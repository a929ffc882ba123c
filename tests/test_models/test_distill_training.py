"""OFA-KD through the real mmengine Runner on the digits data: training,
logging, checkpoints, resume, and interrupted == uninterrupted."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from conftest import OFA_DIGITS_CFG, small_config


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def swap_roles(cfg):
    """CNN student <- ViT teacher (random teacher: no checkpoint)."""
    student = copy.deepcopy(cfg.model.architecture)
    cfg.model.architecture = copy.deepcopy(cfg.model.teacher)
    cfg.model.teacher = student
    cfg.model.teacher_ckpt = None
    cfg.optim_wrapper = dict(
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    return cfg


@pytest.mark.parametrize('pair', ['vit_from_cnn', 'cnn_from_vit'])
def test_train_logs_branches_and_saves_projectors(pair, tmp_path,
                                                  digits_teacher_ckpt):
    cfg = small_config(OFA_DIGITS_CFG, str(tmp_path), epochs=1,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    if pair == 'cnn_from_vit':
        cfg = swap_roles(cfg)
    runner = Runner.from_cfg(cfg)
    algo = runner.model
    algo.init_weights()  # what train() does first (initialises the student)
    projectors = snapshot(algo.distiller.connectors)
    teacher = snapshot(algo.teacher)
    runner.train()

    for k in ('stage1', 'stage2', 'stage3', 'stage4', 'final'):
        for name in (f'train/distill.loss_ofa_{k}', f'train/distill.top1_{k}'):
            value = runner.message_hub.get_scalar(name).current()
            assert torch.isfinite(torch.as_tensor(value)), name
    changed = [not torch.equal(v, algo.distiller.connectors.state_dict()[k])
               for k, v in projectors.items() if v.is_floating_point()]
    assert any(changed) and sum(changed) > len(changed) // 2
    for key, value in algo.teacher.state_dict().items():
        assert torch.equal(value, teacher[key]), key

    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)
    keys = ckpt['state_dict'].keys()
    assert not any(k.startswith('teacher.') for k in keys)
    assert any(k.startswith('distiller.connectors.stage1.') for k in keys)
    assert any(k.startswith('architecture.backbone.') for k in keys)


def test_save_teacher_option_keeps_teacher(tmp_path, digits_teacher_ckpt):
    cfg = small_config(OFA_DIGITS_CFG, str(tmp_path), epochs=1,
                       samples=16, **{'model.teacher_ckpt':
                                      digits_teacher_ckpt,
                                      'model.save_teacher': True})
    Runner.from_cfg(cfg).train()
    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)
    assert any(k.startswith('teacher.') for k in ckpt['state_dict'])


def deterministic_config(work_dir, teacher_ckpt, epochs):
    # Random augmentation state is not part of a checkpoint (mmengine keeps
    # no pipeline RNG), so the comparison trains without RandomCrop.
    cfg = small_config(OFA_DIGITS_CFG, work_dir, epochs=epochs,
                       **{'model.teacher_ckpt': teacher_ckpt,
                          'randomness': dict(seed=7, deterministic=True)})
    cfg.train_dataloader.dataset.pipeline = cfg.test_pipeline
    return cfg


def test_interrupted_equals_uninterrupted(tmp_path, digits_teacher_ckpt):
    straight = Runner.from_cfg(
        deterministic_config(str(tmp_path / 'a'), digits_teacher_ckpt, 3))
    straight.train()

    first = Runner.from_cfg(
        deterministic_config(str(tmp_path / 'b'), digits_teacher_ckpt, 1))
    first.train()
    cfg = deterministic_config(str(tmp_path / 'b'), digits_teacher_ckpt, 3)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'b' / 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()

    assert resumed.iter == straight.iter == 6
    expected = straight.model.state_dict()
    got = resumed.model.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        if key.startswith(('architecture.', 'distiller.')):
            assert torch.allclose(expected[key], got[key], atol=1e-6), key
