"""Automatic stage discovery and token grids: the stages the paper defines,
found from dry runs of real mmpretrain models and of small models built to
hide what a rule could guess."""
import copy

import pytest
import torch
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn

from ofakd_mm.models.utils import (StageDiscoveryError, discover_stage_sources,
                                   token_layout)
from ofakd_mm.models.utils.stage_discovery import (depth_split,
                                                   map_data_format,
                                                   record_events,
                                                   solve_token_grid)
from ofakd_mm.models.utils.stage_sources import table_stage_sources

CLS_HEAD = dict(type='LinearClsHead', num_classes=10, in_channels=32)


def classifier(backbone, neck=None, head=None):
    return PRETRAIN_MODELS.build(
        dict(type='ImageClassifier', backbone=backbone, neck=neck,
             head=head or CLS_HEAD))


def with_backbone(module: nn.Module, neck=None, in_channels=32):
    """An mmpretrain ImageClassifier around a backbone module of ours."""
    model = classifier(dict(type='ResNet', depth=18), neck,
                       dict(CLS_HEAD, in_channels=in_channels))
    model.backbone = module
    return model


def sources(model, size):
    return [s.source for s in discover_stage_sources(model, size)]


@pytest.mark.parametrize('backbone,neck', [
    (dict(type='ResNet', depth=18), dict(type='GlobalAveragePooling')),
    (dict(type='MobileNetV2', widen_factor=0.5),
     dict(type='GlobalAveragePooling')),
    (dict(type='ConvNeXt', arch='atto'), None),
    (dict(type='VisionTransformer', arch='deit-tiny', img_size=32,
          patch_size=8), None),
])
def test_discovery_finds_the_papers_stages(backbone, neck):
    # where the stage table has the paper's taps, the dry run finds the same
    model = classifier(backbone, neck)
    size = 32 if backbone['type'] == 'VisionTransformer' else 64
    assert sources(model, size) == table_stage_sources(model)[1]


def test_discovery_reasons_name_stride_and_downsample():
    model = classifier(dict(type='MobileNetV2', widen_factor=0.5),
                       dict(type='GlobalAveragePooling'))
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        'backbone.layer2', 'backbone.layer3', 'backbone.layer5',
        'backbone.conv2'
    ]
    assert found[0].reason == ('discovered: last module at stride 4 before '
                               'the downsample in backbone.layer3')
    assert found[3].reason.startswith('discovered: final feature')


def test_squeeze_excitation_detours_are_not_downsamples():
    # MobileNetV3 blocks pool to 1x1 inside; the stages are still the last
    # blocks at strides 4, 8, 16 and the final conv at stride 32.
    model = classifier(dict(type='MobileNetV3', arch='small'),
                       dict(type='GlobalAveragePooling'))
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        'backbone.layer1', 'backbone.layer3', 'backbone.layer8',
        'backbone.layer12'
    ]
    assert [s.reason.split('stride ')[1][:2] for s in found] == [
        '4 ', '8 ', '16', '32'
    ]


def test_isotropic_stack_is_split_after_blocks_2_4_n2_n():
    assert depth_split(12) == [2, 4, 10, 12]
    assert depth_split(24) == [2, 4, 22, 24]
    assert depth_split(4) == [1, 2, 3, 4]
    model = classifier(
        dict(type='MlpMixer', arch=dict(embed_dims=32, num_layers=8,
                                        tokens_mlp_dims=16,
                                        channels_mlp_dims=64),
             img_size=32, patch_size=8),
        dict(type='GlobalAveragePooling', dim=1))
    found = discover_stage_sources(model, 32)
    assert [s.source for s in found] == [
        'backbone.layers.1', 'backbone.layers.3', 'backbone.layers.5',
        'backbone.layers.7'
    ]
    assert 'block 6 of the 8 blocks' in found[2].reason


class _ChannelsLastStage(nn.Module):
    """Down-sample, then a two-layer MLP block, on (B, H, W, C) maps."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 3, 2, 1)
        self.fc1, self.fc2 = nn.Linear(cout, cout), nn.Linear(cout, cout)

    def forward(self, x):
        x = self.down(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.fc2(torch.relu(self.fc1(x)))


class ChannelsLastNet(nn.Module):
    """Four stages whose outputs are channels-last (B, H, W, C) maps."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        widths = [8, 24, 48, 96, 32]
        self.stages = nn.Sequential(*[
            _ChannelsLastStage(widths[i], widths[i + 1]) for i in range(4)
        ])

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        return (self.stages(x).permute(0, 3, 1, 2), )


def test_channels_last_stages():
    model = with_backbone(ChannelsLastNet(), dict(type='GlobalAveragePooling'))
    assert map_data_format((2, 16, 16, 24), (64, 64)) == 'channels_last'
    assert map_data_format((2, 24, 16, 16), (64, 64)) == 'channels_first'
    assert sources(model, 64) == [f'backbone.stages.{i}' for i in range(4)]


class HiddenGridTokens(nn.Module):
    """Patch tokens made inline (no module outputs a patch grid) and a class
    token under a name OFA-KD does not read: only dry runs at two sizes tell
    grid and class token apart. With ``fixed_size`` it accepts one size."""

    def __init__(self, fixed_size=None) -> None:
        super().__init__()
        self.fixed_size = fixed_size
        self.proj = nn.Linear(3 * 8 * 8, 32)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, 32))
        self.blocks = nn.Sequential(*[_TokenBlock() for _ in range(8)])

    def forward(self, x):
        if self.fixed_size and x.shape[-1] != self.fixed_size:
            raise AssertionError(f'input must be {self.fixed_size} px')
        b = x.shape[0]
        patches = x.unfold(2, 8, 8).unfold(3, 8, 8)  # B, 3, h, w, 8, 8
        patches = patches.permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(1, 2)
        tokens = torch.cat(
            [self.class_embedding.expand(b, -1, -1),
             self.proj(patches)], dim=1)
        return (self.blocks(tokens)[:, 0], )


class _TokenBlock(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 32)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


def test_token_grid_from_two_dry_runs():
    model = with_backbone(HiddenGridTokens())
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        f'backbone.blocks.{i}' for i in (1, 3, 5, 7)
    ]
    layout = token_layout(model, 'backbone.blocks.1', 65, 64)
    assert (layout.grid, layout.num_extra_tokens) == ((8, 8), 1)
    assert 'dry runs at 64x64 and 96x96' in layout.reason
    assert solve_token_grid((65, 145), ((64, 64), (96, 96))) == [((8, 8), 1)]


def test_token_grid_that_cannot_be_told_names_the_settings():
    model = with_backbone(HiddenGridTokens(fixed_size=64))
    with pytest.raises(StageDiscoveryError) as info:
        token_layout(model, 'backbone.blocks.1', 65, 64)
    message = str(info.value)
    assert 'num_extra_tokens' in message and 'patch_resolution' in message
    assert "stage_sources={1: 'backbone.layer1'" in message


def test_mixer_on_a_non_square_image_has_no_class_token():
    # 224x192 px with 32 px patches: 7x6 = 42 tokens, all of them patches
    # (the remainder of a square grid would call 6 of them class tokens).
    model = classifier(
        dict(type='MlpMixer', arch=dict(embed_dims=32, num_layers=8,
                                        tokens_mlp_dims=16,
                                        channels_mlp_dims=64),
             img_size=(224, 192), patch_size=32),
        dict(type='GlobalAveragePooling', dim=1))
    layout = token_layout(model, 'backbone.layers.1', 42, (224, 192))
    assert (layout.grid, layout.num_extra_tokens) == ((7, 6), 0)


def test_multi_branch_backbone_asks_for_stage_sources():
    model = classifier(
        dict(type='HRNet', arch='w18'),
        dict(type='HRFuseScales', in_channels=(18, 36, 72, 144)),
        dict(CLS_HEAD, in_channels=2048))
    with pytest.raises(StageDiscoveryError) as info:
        discover_stage_sources(model, 64)
    assert 'several branches' in str(info.value)
    assert "stage_sources={1: 'backbone.layer1', 2: " in str(info.value)


def test_too_few_blocks_asks_for_stage_sources():
    model = classifier(
        dict(type='VisionTransformer',
             arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                       feedforward_channels=64),
             img_size=32, patch_size=8), None)
    with pytest.raises(StageDiscoveryError, match='stage_sources='):
        discover_stage_sources(model, 32)


def test_dry_run_records_calls_not_tensors():
    model = classifier(dict(type='ResNet', depth=18),
                       dict(type='GlobalAveragePooling'))
    before = copy.deepcopy(model.state_dict())
    model.train()
    events = record_events(model, 64)
    assert model.training  # mode restored
    assert all(torch.equal(before[k], v)
               for k, v in model.state_dict().items())  # BN stats untouched
    names = [e.name for e in events]
    assert names[0] == 'backbone' and 'backbone.layer4' in names
    layer1 = events[names.index('backbone.layer1')]
    assert layer1.output.shape == (2, 64, 16, 16) and layer1.is_block


def test_timm_classifier_stages():
    model = MODELS.build(
        dict(_scope_='mmpretrain', type='TimmClassifier',
             model_name='test_resnet', pretrained=False, num_classes=10))
    assert sources(model, 64) == [f'model.layer{i}' for i in (1, 2, 3, 4)]


def test_channels_last_stages_get_channels_last_projectors():
    student = with_backbone(ChannelsLastNet(),
                            dict(type='GlobalAveragePooling'))
    teacher = dict(CLS_HEAD)
    algo = MODELS.build(
        dict(_scope_='mmrazor', type='OFAKDDistill', architecture=student,
             teacher=dict(_scope_='mmpretrain', type='ImageClassifier',
                          backbone=dict(type='ResNet', depth=18,
                                        base_channels=8, stem_channels=8),
                          neck=dict(type='GlobalAveragePooling'),
                          head=dict(teacher, in_channels=64)),
             input_size=64, distiller=dict(type='OFAKDDistiller')))
    cfgs = algo.distiller.projector_cfgs
    assert [c['in_channels'] for c in cfgs.values()] == [24, 48, 96, 32]
    assert {c.get('data_format') for c in cfgs.values()} == {'channels_last'}
    algo.train()
    losses = algo(torch.randn(2, 3, 64, 64),
                  [DataSample().set_gt_label(i) for i in (0, 1)],
                  mode='loss')
    assert all(torch.isfinite(losses[f'distill.loss_ofa_stage{k}'])
               for k in (1, 2, 3, 4))
