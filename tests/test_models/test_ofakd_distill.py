"""OFAKDDistill / OFAKDDistiller: model-aware construction and the errors a
bad config gets before any training step."""
import ast
import copy
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ofakd_mm.models.connectors import OFAKDTokenProjector
from ofakd_mm.models.distillers import format_stage
from ofakd_mm.models.utils import check_input_size
from ofakd_mm.utils import resolve_model_cfg
from conftest import OFA_DIGITS_CFG, log_lines


@pytest.fixture(scope='module')
def base_model_cfg():
    cfg = Config.fromfile(OFA_DIGITS_CFG)
    model = cfg.model.to_dict()
    model['teacher_ckpt'] = None
    for key in ('architecture', 'teacher'):
        model[key] = resolve_model_cfg(model[key])
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
    ({'distiller.stage_sources': {1: 'backbone.nope', 2: 'backbone.layers.3',
                                  3: 'backbone.layers.9',
                                  4: 'backbone.layers.11'}},
     KeyError, 'Stage 1 source'),
    ({'distiller.label_source': 'head.nope'}, KeyError, 'label_source'),
    ({'teacher_ckpt': '/no/such/teacher.pth'}, FileNotFoundError,
     'teacher_ckpt'),
])
def test_bad_config_fails_at_build(base_model_cfg, changes, error, match):
    with pytest.raises(error, match=match):
        build(base_model_cfg, **changes)


def test_a_failing_dry_run_keeps_its_error_and_says_where(base_model_cfg):
    # A Mixer mixes a fixed number of tokens: built for 16 px, it fails the
    # dry run at 64 px. Its own error passes unchanged, with a note naming
    # the dry run and, as the Mixer states the size it was built for, the
    # settings to change.
    mixer = dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='MlpMixer', img_size=16, patch_size=4, arch=dict(
            embed_dims=64, num_layers=12, tokens_mlp_dims=32,
            channels_mlp_dims=128)),
        neck=dict(type='GlobalAveragePooling', dim=1),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
    with pytest.raises(AssertionError) as info:
        build(base_model_cfg, architecture=mixer, input_size=64)
    assert "doesn't support dynamic input shape" in str(info.value)
    note = ' '.join(info.value.__notes__)
    assert 'OFA-KD build-time dry run' in note
    assert 'at input size 64x64' in note
    assert 'built for 16x16 images' in note and '`input_size`' in note


def test_an_error_of_the_model_itself_gets_no_input_size_advice(
        base_model_cfg):
    # The student was built for the dry-run size: the error is the model's
    # own, and nothing points at `input_size`.
    broken = dict(base_model_cfg['architecture'])
    broken['head'] = dict(broken['head'], in_channels=32)
    with pytest.raises(RuntimeError) as info:
        build(base_model_cfg, architecture=broken)
    note = ' '.join(info.value.__notes__)
    assert 'OFA-KD build-time dry run' in note
    assert 'built for' not in note


SHUFFLENET = dict(
    _scope_='mmpretrain', type='ImageClassifier',
    backbone=dict(type='ShuffleNetV2', widen_factor=0.5),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1024))


def test_stages_of_a_backbone_outside_the_table_are_discovered(
        base_model_cfg):
    algo = build(base_model_cfg, architecture=SHUFFLENET, input_size=32)
    distiller = algo.distiller
    sources = [distiller.student_recorders.get_recorder(f'stage{k}').source
               for k in (1, 2, 3, 4)]
    # 32 px: the stem's max-pool (8 px), then the declared stages at 4, 2
    # and 1 px
    assert sources == ['backbone.maxpool', 'backbone.layers.0',
                       'backbone.layers.1', 'backbone.layers.3']
    assert [i['why'].split(':')[0] for i in distiller.stage_info] == [
        'stem', 'declared', 'declared', 'declared']

    algo = build(
        base_model_cfg, architecture=SHUFFLENET, input_size=32, **{
            'distiller.stage_sources': [f'backbone.layers.{i}'
                                        for i in range(4)]
        })
    shapes = {k: v['in_channels']
              for k, v in algo.distiller.projector_cfgs.items()}
    assert shapes == {'stage1': 48, 'stage2': 96, 'stage3': 192,
                      'stage4': 1024}
    assert {i['why'] for i in algo.distiller.stage_info} == {
        'user: stage_sources'}


# ---- paths that gave a wrong or missing OFA-KD without any error ----------


@pytest.mark.parametrize('algorithm', ['FrozenTeacherDistill',
                                       'SingleTeacherDistill'])
def test_ofakd_distiller_under_another_algorithm_fails_at_first_step(
        base_model_cfg, algorithm):
    # Only OFAKDDistill builds the exit branches: under another algorithm
    # the first training step stops, before any step without OFA losses.
    model = dict(
        _scope_='mmrazor', type=algorithm,
        architecture=base_model_cfg['architecture'],
        teacher=base_model_cfg['teacher'],
        distiller=dict(type='OFAKDDistiller'))
    algo = MODELS.build(model)
    algo.train()
    with pytest.raises(TypeError, match="model.type='OFAKDDistill'"):
        algo(torch.randn(2, 3, 16, 16),
             [DataSample().set_gt_label(i) for i in (1, 2)], mode='loss')


def test_ofakd_distiller_builds_alone_like_mmrazor_distillers():
    # No global state ties it to OFAKDDistill: like MMRazor's OFDDistiller
    # it is built on its own, and the algorithm calls `build_projectors`.
    distiller = MODELS.build(dict(_scope_='mmrazor', type='OFAKDDistiller',
                                  stages=(1, 4)))
    assert not distiller.projector_cfgs
    with pytest.raises(TypeError, match='`build_projectors`'):
        distiller.compute_distill_losses()


def test_user_mapping_to_an_argument_the_loss_lacks_names_the_setting(
        base_model_cfg):
    # MMRazor's own mapping check runs once, with the context of the
    # setting (before: a bare AssertionError after a check of ours).
    with pytest.raises(KeyError) as info:
        build(base_model_cfg, **{
            'distiller.distill_losses': dict(loss_l2=dict(type='L2Loss')),
            'distiller.loss_forward_mappings': dict(loss_l2=dict(
                s_feat=dict(recorder='stage2', from_student=True),
                t_feature=dict(recorder='logits', from_student=False)))
        })
    message = str(info.value)
    assert 'distiller.loss_forward_mappings.loss_l2: s_feat' in message
    assert "'stage2'" in message and "'gt_labels'" in message


def test_stage_sources_hint_lists_the_students_modules_in_the_accepted_form(
        base_model_cfg):
    hrnet = dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='HRNet', arch='w18'),
        neck=[dict(type='HRFuseScales', in_channels=(18, 36, 72, 144)),
              dict(type='GlobalAveragePooling')],
        head=dict(type='LinearClsHead', num_classes=10, in_channels=2048))
    with pytest.raises((KeyError, ValueError)) as info:
        build(base_model_cfg, architecture=hrnet, input_size=32)
    hint = re.search(r'stage_sources=(\{.*?\})', str(info.value))
    assert hint is not None, str(info.value)
    written = ast.literal_eval(hint.group(1))
    assert sorted(written) == [1, 2, 3, 4]
    # modules of this student, with their output shapes per stride
    student = MODELS.build(copy.deepcopy(hrnet))
    modules = dict(student.named_modules())
    assert all(name in modules for name in written.values())
    assert 'stride 8: ' in str(info.value)
    assert "'backbone.layer1'" not in str(info.value)
    # the README one-liner for HRNet, in that form
    stage_sources = {
        k: f'backbone.stage4.2.branches.{k - 1}'
        for k in (1, 2, 3, 4)
    }
    algo = build(base_model_cfg, architecture=hrnet, input_size=32,
                 **{'distiller.stage_sources': stage_sources})
    assert [c['in_channels'] for c in algo.distiller.projector_cfgs.values()
            ] == [18, 36, 72, 144]
    with pytest.raises(KeyError, match=re.escape("stage_sources={1: '")):
        build(base_model_cfg, architecture=hrnet, input_size=32, **{
            'distiller.stage_sources':
            {f'stage{k}': v for k, v in stage_sources.items()}
        })


def test_user_mappings_may_use_ofa_recorders_and_connectors(
        base_model_cfg):
    algo = build(
        base_model_cfg, **{
            'distiller.stages': (2, 4),
            'distiller.distill_losses': dict(
                loss_stage2_eps2=dict(type='OFAKDLoss', eps=2.0)),
            'distiller.loss_forward_mappings': dict(
                loss_stage2_eps2=dict(
                    preds_S=dict(recorder='stage2', from_student=True,
                                 connector='stage2'),
                    preds_T=dict(recorder='logits', from_student=False),
                    gt_labels=dict(recorder='gt_labels', from_student=True,
                                   data_idx=1)))
        })
    algo.train()
    losses = algo(torch.randn(4, 3, 16, 16),
                  [DataSample().set_gt_label(i) for i in (1, 2, 3, 4)],
                  mode='loss')
    extra = losses['distill.loss_stage2_eps2']
    assert torch.isfinite(extra)
    assert not torch.allclose(extra, losses['distill.loss_ofa_stage2'])
    # same branch logits: same top-1
    assert losses['distill.top1_stage2_eps2'] == losses[
        'distill.top1_stage2']


def test_user_loss_with_inputs_that_do_not_fit_fails_at_build(
        base_model_cfg):
    # An MMRazor feature loss between a student token stage and a teacher
    # feature map: the build-time dry run names the loss, both recorders
    # and their shapes (before: a raw torch error at the first step).
    with pytest.raises(RuntimeError) as info:
        build(base_model_cfg, **{
            'distiller.teacher_recorders': dict(
                feat=dict(type='ModuleOutputs', source='backbone.layer1')),
            'distiller.distill_losses': dict(loss_l2=dict(type='L2Loss')),
            'distiller.loss_forward_mappings': dict(loss_l2=dict(
                s_feature=dict(recorder='stage2', from_student=True),
                t_feature=dict(recorder='feat', from_student=False)))
        })
    note = ' '.join(info.value.__notes__)
    assert "distill loss 'loss_l2' (L2Loss)" in note
    assert ("s_feature = student recorder 'stage2' (source "
            "'backbone.layers.3') (1, 17, 64)") in note
    assert ("t_feature = teacher recorder 'feat' (source "
            "'backbone.layer1') (1, 16, 16, 16)") in note


def test_stages_are_logged_at_build(base_model_cfg):
    with log_lines(MMLogger.get_current_instance()) as lines:
        algo = build(base_model_cfg)
    info = algo.distiller.stage_info
    assert [i['module'] for i in info] == [
        f'backbone.layers.{i}' for i in (1, 3, 5, 7)]
    assert info[0] == dict(
        stage=1, module='backbone.layers.1', shape=[17, 64], grid=[4, 4],
        extra_tokens=1, why=info[0]['why'])
    assert info[0]['why'].startswith('declared: block 2 of the 8 blocks')
    logged = [line for line in lines if line.startswith('OFA-KD ')]
    assert logged == [f'OFA-KD {format_stage(i)}' for i in info]
    assert logged[0].startswith(
        'OFA-KD stage1: backbone.layers.1 (17, 64), grid 4x4, 1 extra '
        'token(s); why: declared: ')


def test_token_count_is_checked_at_run_time(base_model_cfg):
    # built for 16 px (4x4 patches + class token), trained at 24 px
    algo = build(base_model_cfg)
    algo.train()
    with pytest.raises(ValueError, match='input_size'):
        algo(torch.randn(2, 3, 24, 24),
             [DataSample().set_gt_label(i) for i in (1, 2)], mode='loss')


def test_input_size_is_checked_against_the_train_pipeline():
    cfg = Config.fromfile(OFA_DIGITS_CFG)
    assert check_input_size(cfg) == (16, 16)
    cfg.model.input_size = 32
    with pytest.raises(ValueError, match=r'set `input_size=16`'):
        check_input_size(cfg)
    cfg.model.input_size = (16, 16)
    assert check_input_size(cfg) == (16, 16)


def test_tokens_on_a_non_square_image_are_not_guessed(base_model_cfg):
    # 224x192 px, 32 px patches: 7x6 = 42 patch tokens and no class token
    # (42 is no square: a square-grid remainder would make 6 class tokens).
    student = dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(
            type='MlpMixer', arch=dict(embed_dims=32, num_layers=8,
                                       tokens_mlp_dims=16,
                                       channels_mlp_dims=64),
            img_size=(224, 192), patch_size=32),
        neck=dict(type='GlobalAveragePooling', dim=1),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    algo = build(base_model_cfg, architecture=student,
                 input_size=(224, 192), **{'distiller.stages': (1, 4)})
    for cfg in algo.distiller.projector_cfgs.values():
        assert cfg['num_extra_tokens'] == 0
        assert tuple(cfg['grid_size']) == (7, 6)


# ---- bad settings fail at build time, naming the setting ------------------


@pytest.mark.parametrize('changes,error,setting', [
    ({'distiller.stages': []}, ValueError, '`stages=[]`'),
    ({'distiller.connectors': dict(stage1=dict(
        type='OFAKDConvProjector', in_channels=8, stage=1, student_dim=8,
        teacher_dim=8, num_classes=10))}, KeyError, 'distiller.connectors'),
    ({'distiller.student_recorders': dict(
        stage2=dict(type='ModuleOutputs', source='backbone.layers.0'))},
     KeyError, 'distiller.student_recorders'),
    ({'distiller.teacher_recorders': dict(
        logits=dict(type='ModuleOutputs', source='head'))},
     KeyError, 'distiller.teacher_recorders'),
    ({'distiller.distill_losses': dict(
        loss_ofa_final=dict(type='OFAKDLoss'))},
     KeyError, 'distiller.distill_losses'),
    ({'distiller.student_recorders': dict(
        feat=dict(type='ModuleOutputs', source='backbone.nope'))},
     KeyError, 'distiller.student_recorders'),
    ({'distiller.loss_forward_mappings': dict(
        loss_ofa_final=dict(preds_S=dict(recorder='logits',
                                         from_student=True)))},
     KeyError, 'distiller.loss_forward_mappings'),
    ({'distiller.distill_losses': dict(loss_l2=dict(type='L2Loss')),
      'distiller.loss_forward_mappings': dict(loss_l2=dict(
          s_feature=dict(recorder='stage9', from_student=True),
          t_feature=dict(recorder='logits', from_student=False)))},
     KeyError, 'loss_forward_mappings.loss_l2: For s_feature, "stage9"'),
])
def test_clashing_or_unknown_names_fail_at_build(base_model_cfg, changes,
                                                 error, setting):
    with pytest.raises(error) as info:
        build(base_model_cfg, **changes)
    assert setting in str(info.value)


@pytest.mark.parametrize('role,source,setting', [
    # the teacher runs in tensor mode: its loss module is never called
    ('teacher', 'head.loss_module', 'distiller.teacher_recorders'),
    # the algorithm preprocesses the batch, not the student's own
    ('student', 'data_preprocessor', 'distiller.student_recorders'),
])
def test_recorder_on_a_module_never_called_fails_at_build(
        base_model_cfg, role, source, setting):
    with pytest.raises(ValueError) as info:
        build(base_model_cfg, **{
            f'distiller.{role}_recorders': dict(
                feat=dict(type='ModuleInputs', source=source))
        })
    message = str(info.value)
    assert "recorder 'feat'" in message and repr(source) in message
    assert setting in message


def test_stage_source_never_called_names_stage_sources(base_model_cfg):
    sources = {1: 'backbone.layers.1', 2: 'backbone.layers.3',
               3: 'backbone.layers.9', 4: 'data_preprocessor'}
    with pytest.raises(ValueError) as info:
        build(base_model_cfg, **{'distiller.stages': (1, 4),
                                 'distiller.stage_sources': sources})
    message = str(info.value)
    assert "recorder 'stage4' (source 'data_preprocessor')" in message
    assert '`stage_sources`' in message


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
