"""Any classifier whose forward gives logits can teach, and unusual
students distill: heads with several logits (Conformer), a distilled DeiT
head, mmpretrain's TimmClassifier, a model without an mmpretrain head."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn

from ofakd_mm.models.distillers import mean_logits
from ofakd_mm.models.utils import StageDiscoveryError
from ofakd_mm.utils import resolve_model_cfg
from conftest import OFA_DIGITS_CFG

SIZE = 32


@pytest.fixture(scope='module')
def digits():
    model = Config.fromfile(OFA_DIGITS_CFG).model.to_dict()
    model.update(teacher_ckpt=None, input_size=SIZE)
    for key in ('architecture', 'teacher'):
        model[key] = resolve_model_cfg(model[key])
    return model


def classifier(backbone, head, neck=dict(type='GlobalAveragePooling')):
    return dict(_scope_='mmpretrain', type='ImageClassifier',
                backbone=backbone, neck=neck, head=head)


def linear_head(in_channels):
    return dict(type='LinearClsHead', num_classes=10,
                in_channels=in_channels)


CONFORMER = classifier(
    dict(type='Conformer', patch_size=16, base_channels=64,
         arch=dict(embed_dims=64, channel_ratio=1, num_heads=2, depths=12)),
    dict(type='ConformerHead', num_classes=10, in_channels=[256, 64]),
    neck=None)
#: The README's one line for Conformer: the last block of the CNN branch
#: at strides 4, 8, 16 and 32.
CONFORMER_STAGES = {
    1: 'backbone.conv_trans_4.fusion_block',
    2: 'backbone.conv_trans_8.fusion_block',
    3: 'backbone.conv_trans_11.fusion_block',
    4: 'backbone.conv_trans_12.fusion_block'
}


class PlainTeacher(BaseModel):
    """A classifier with no mmpretrain head: tensor mode returns logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 24, 3, 2, 1)
        self.fc = nn.Linear(24, 10)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(self.conv(inputs).mean(dim=(2, 3)))


TEACHERS = {
    'efficientnet': (classifier(dict(type='EfficientNet', arch='b0'),
                                linear_head(1280)), 1280),
    'regnet': (classifier(dict(type='RegNet', arch='regnetx_400mf'),
                          linear_head(384)), 384),
    'swin': (classifier(
        dict(type='SwinTransformer',
             arch=dict(embed_dims=32, depths=[2, 2, 2, 2],
                       num_heads=[1, 2, 4, 8]),
             img_size=SIZE, window_size=4, pad_small_map=True),
        linear_head(256)), 256),
    'distilled-deit': (classifier(
        dict(type='DistilledVisionTransformer',
             arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                       feedforward_channels=96),
             img_size=SIZE, patch_size=8),
        dict(type='DeiTClsHead', num_classes=10, in_channels=48),
        neck=None), 48),
    'conformer': (CONFORMER, 256),
    'timm': (dict(_scope_='mmpretrain', type='TimmClassifier',
                  model_name='test_resnet', pretrained=False,
                  num_classes=10), 96),
    'no-head': (PlainTeacher, 24),
}


def one_step(algo, size=SIZE):
    algo.train()
    x = torch.randn(2, 3, size, size)
    losses = algo(x, [DataSample().set_gt_label(i) for i in (3, 7)],
                  mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total)
    for name, projector in algo.distiller.connectors.items():
        assert all(p.grad is not None for p in projector.parameters()), name
    return losses


@pytest.mark.parametrize('kind', list(TEACHERS))
def test_any_classifier_with_logits_teaches(digits, kind):
    teacher, width = TEACHERS[kind]
    teacher = teacher() if isinstance(teacher, type) else \
        copy.deepcopy(teacher)
    model = copy.deepcopy(digits)
    # the CNN student: its projectors are sized by the teacher's width too
    model.update(architecture=digits['teacher'], teacher=teacher)
    algo = MODELS.build(model)
    for cfg in algo.distiller.projector_cfgs.values():
        assert cfg['teacher_dim'] == width
    x = torch.randn(2, 3, SIZE, SIZE)
    algo.teacher.eval()
    with torch.no_grad(), algo.distiller.teacher_recorders:
        direct = algo.teacher(x, mode='tensor')
    recorded = algo.distiller.teacher_recorders.get_recorder(
        'logits').get_record_data()
    # a head with two logit tensors (Conformer) teaches their mean
    assert torch.allclose(recorded, mean_logits(direct))
    assert recorded.shape == (2, 10)
    one_step(algo)


def test_conformer_student_averages_its_two_heads(digits):
    with pytest.raises(StageDiscoveryError, match='stage_sources='):
        MODELS.build(dict(digits, architecture=CONFORMER))
    algo = MODELS.build(dict(
        digits, architecture=CONFORMER,
        distiller=dict(digits['distiller'], stage_sources=CONFORMER_STAGES)))
    assert [c['in_channels'] for c in algo.distiller.projector_cfgs.values()
            ] == [64, 128, 256, 256]
    x = torch.randn(2, 3, SIZE, SIZE)
    algo.student.eval()
    with torch.no_grad():
        conv, trans = algo.student.head(algo.student.extract_feat(x))
        with algo.distiller.student_recorders:
            algo.student(x, [DataSample().set_gt_label(i) for i in (1, 2)],
                         mode='loss')
    recorded = algo.distiller.student_recorders.get_recorder(
        'logits').get_record_data()
    assert torch.allclose(recorded, (conv + trans) / 2)
    one_step(algo)


def test_timm_classifiers_as_student_and_teacher(digits):
    student = dict(_scope_='mmpretrain', type='TimmClassifier',
                   model_name='test_vit', pretrained=False, num_classes=10)
    algo = MODELS.build(dict(digits, architecture=student,
                             teacher=TEACHERS['timm'][0], input_size=64))
    distiller = algo.distiller
    assert distiller.student_recorders.get_recorder('logits').source == \
        'model'
    assert distiller.student_recorders.get_recorder('gt_labels').source == \
        'loss_module'
    assert [distiller.student_recorders.get_recorder(f'stage{k}').source
            for k in (1, 2, 3, 4)] == [
                f'model.blocks.{i}' for i in (1, 3, 4, 5)]  # 6 blocks
    for cfg in distiller.projector_cfgs.values():
        # timm's class token, a 4x4 grid of 16 px patches at 64 px
        assert (cfg['num_extra_tokens'], cfg['grid_size']) == (1, 4)
    one_step(algo, size=64)


def test_student_and_teacher_logits_sources_are_separate(digits):
    timm_teacher = TEACHERS['timm'][0]
    with pytest.raises(KeyError, match='`teacher_logits_source`'):
        MODELS.build(dict(digits, teacher=timm_teacher,
                          distiller=dict(digits['distiller'],
                                         logits_source='head')))
    algo = MODELS.build(dict(
        digits, teacher=timm_teacher,
        distiller=dict(digits['distiller'], logits_source='head',
                       teacher_logits_source='model')))
    assert algo.distiller.teacher_recorders.get_recorder(
        'logits').source == 'model'
    assert algo.distiller.student_recorders.get_recorder(
        'logits').source == 'head'
    with pytest.raises(KeyError, match='`student_logits_source`'):
        MODELS.build(dict(digits, distiller=dict(
            digits['distiller'], student_logits_source='head.nope')))
    one_step(algo)
