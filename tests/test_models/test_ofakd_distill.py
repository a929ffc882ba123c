"""OFAKDDistill / OFAKDDistiller: model-aware construction and the errors a
bad config gets before any training step."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ofakd_mm.models.connectors import OFAKDTokenProjector
from conftest import OFA_DIGITS_CFG


@pytest.fixture(scope='module')
def base_model_cfg():
    cfg = Config.fromfile(OFA_DIGITS_CFG)
    model = cfg.model.to_dict()
    model['teacher_ckpt'] = None
    return model


def build(base, **changes):
    model = copy.deepcopy(base)
    for key, value in changes.items():
        target = model
        *path, last = key.split('.')
        for p in path:
            target = target[p]
        target[last] = value
    return MODELS.build(model)


def test_builds_one_projector_per_stage(base_model_cfg):
    algo = build(base_model_cfg, **{'distiller.stages': (2, 4)})
    assert sorted(algo.distiller.connectors) == ['stage2', 'stage4']
    assert set(algo.distiller.loss_forward_mappings) == {
        'loss_ofa_stage2', 'loss_ofa_stage4', 'loss_ofa_final'
    }
    proj = algo.distiller.connectors['stage2']
    assert isinstance(proj, OFAKDTokenProjector)
    assert proj.num_extra_tokens == 1  # the ViT's class token, detected


def test_eps_per_branch(base_model_cfg):
    algo = build(base_model_cfg, **{
        'distiller.stages': (1, 3),
        'distiller.eps': (1.1, 1.2, 1.3),
        'distiller.ofa_loss_weight': 0.1,
        'distiller.kd_loss_weight': 2.0
    })
    losses = algo.distiller.distill_losses
    assert losses['loss_ofa_stage1'].eps == 1.1
    assert losses['loss_ofa_stage3'].eps == 1.2
    assert losses['loss_ofa_final'].eps == 1.3
    assert losses['loss_ofa_stage1'].loss_weight == 0.1
    assert losses['loss_ofa_final'].loss_weight == 2.0


def test_distilled_deit_has_two_extra_tokens(base_model_cfg):
    student = copy.deepcopy(base_model_cfg['architecture'])
    student['backbone']['type'] = 'DistilledVisionTransformer'
    student['head'] = dict(type='DeiTClsHead', num_classes=10,
                           in_channels=64)
    algo = build(base_model_cfg, architecture=student,
                 **{'distiller.stages': (1, )})
    assert algo.distiller.projector_cfgs['stage1']['num_extra_tokens'] == 2


@pytest.mark.parametrize('changes,error,match', [
    ({'distiller.stages': (1, 5)}, ValueError, 'distinct values of 1, 2'),
    ({'distiller.stages': (2, 2)}, ValueError, 'distinct values of 1, 2'),
    ({'distiller.eps': 0.0}, ValueError, 'eps must be > 0'),
    ({'distiller.eps': (1.0, 1.5)}, ValueError, 'one per stage plus'),
    ({'distiller.temperature': -1.0}, ValueError, 'temperature must be > 0'),
    ({'teacher.head.num_classes': 100}, ValueError,
     'student predicts 10 classes and the teacher 100'),
    ({'input_size': 64}, ValueError, 'Set `input_size`'),
    ({'distiller.stage_sources': {1: 'backbone.nope', 2: 'backbone.layers.3',
                                  3: 'backbone.layers.9',
                                  4: 'backbone.layers.11'}},
     KeyError, 'Stage 1 source'),
    ({'distiller.label_source': 'head.nope'}, KeyError, 'label_source'),
    ({'teacher_ckpt': '/no/such/teacher.pth'}, FileNotFoundError,
     'teacher_ckpt'),
])
def test_bad_config_fails_at_build(base_model_cfg, changes, error, match):
    # Mixer-style fixed-size students fail the dry run at another size; the
    # ViT student does too once its patch grid no longer matches 64 px.
    if changes.get('input_size') == 64:
        changes = dict(changes)
        changes['architecture.backbone.type'] = 'MlpMixer'
        changes['architecture.backbone.arch'] = dict(
            embed_dims=64, num_layers=12, tokens_mlp_dims=32,
            channels_mlp_dims=128)
        changes['architecture.neck'] = dict(type='GlobalAveragePooling',
                                            dim=1)
        changes['architecture.head'] = dict(type='LinearClsHead',
                                            num_classes=10, in_channels=64)
    with pytest.raises(error, match=match):
        build(base_model_cfg, **changes)


def test_unknown_backbone_needs_stage_sources(base_model_cfg):
    student = dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='ShuffleNetV2', widen_factor=0.5),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=1024))
    with pytest.raises(KeyError, match='stage_sources'):
        build(base_model_cfg, architecture=student)
    algo = build(
        base_model_cfg, architecture=student, **{
            'distiller.stage_sources': [f'backbone.layers.{i}'
                                        for i in range(4)]
        })
    shapes = {k: v['in_channels']
              for k, v in algo.distiller.projector_cfgs.items()}
    assert shapes == {'stage1': 48, 'stage2': 96, 'stage3': 192,
                      'stage4': 1024}


def test_teacher_checkpoint_of_another_model_is_rejected(
        base_model_cfg, tmp_path):
    other = MODELS.build(copy.deepcopy(base_model_cfg['architecture']))
    path = tmp_path / 'vit.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    with pytest.raises(KeyError, match='does not match the teacher'):
        build(base_model_cfg, teacher_ckpt=str(path))


def test_teacher_checkpoint_loads_exactly(base_model_cfg,
                                          digits_teacher_ckpt):
    algo = build(base_model_cfg, teacher_ckpt=digits_teacher_ckpt)
    saved = torch.load(digits_teacher_ckpt, weights_only=False)['state_dict']
    teacher = algo.teacher.state_dict()
    assert set(saved) == set(teacher)
    for key, value in saved.items():
        assert torch.equal(teacher[key], value), key
    assert not any(p.requires_grad for p in algo.teacher.parameters())


def test_teacher_stays_in_eval_mode_with_drop_path(base_model_cfg):
    # A ViT teacher with drop-path and dropout, a CNN student.
    teacher = copy.deepcopy(base_model_cfg['architecture'])
    teacher['backbone']['drop_path_rate'] = 0.5
    teacher['backbone']['drop_rate'] = 0.5
    algo = build(base_model_cfg, architecture=base_model_cfg['teacher'],
                 teacher=teacher)
    algo.train()
    assert algo.student.training
    assert not any(m.training for m in algo.teacher.modules())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        first = algo.teacher(x, mode='tensor')
        second = algo.teacher(x, mode='tensor')
    assert torch.equal(first, second)
    # what mmrazor's SingleTeacherDistill would leave on: drop-path changes
    # the logits, so the assertion above can fail.
    algo.teacher.train()
    with torch.no_grad():
        assert not torch.equal(algo.teacher(x, mode='tensor'),
                               algo.teacher(x, mode='tensor'))


def test_channels_last_gives_the_same_losses(base_model_cfg):
    # CNN student <- ViT teacher: the conv weights change memory format.
    swapped = dict(architecture=base_model_cfg['teacher'],
                   teacher=base_model_cfg['architecture'])
    torch.manual_seed(0)
    plain = build(base_model_cfg, **swapped)
    fast = build(base_model_cfg, channels_last=True, **swapped)
    fast.load_state_dict(plain.state_dict())
    fast.teacher.load_state_dict(plain.teacher.state_dict())
    conv = fast.distiller.connectors['stage1'].downsample[0][1]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain.train()
    fast.train()
    x = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in (1, 2, 3, 4)]
    expected = plain(x, samples, mode='loss')
    got = fast(x, samples, mode='loss')
    for key, value in expected.items():
        assert torch.allclose(got[key], value, atol=1e-4), key
