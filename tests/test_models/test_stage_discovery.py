"""Which module ends each OFA-KD stage: the stages a backbone declares,
isotropic stacks split by depth, the heuristic walk for the rest, and the
taps that would silently be wrong (duplicates, out of order, inside a block,
changed in place later), on real mmpretrain models and on small models built
to hide what a rule could guess."""
import copy
import glob
import inspect
import os.path as osp
import re

import pytest
import torch
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn

import ofakd_mm.models.utils as stage_utils
from ofakd_mm.models.utils import (StageDiscoveryError, discover_stage_sources,
                                   record_events, token_layout)
from ofakd_mm.models.utils.stage_discovery import (Output, map_data_format,
                                                   solve_token_grid, stride_of)
from ofakd_mm.models.utils.stage_sources import depth_split
from conftest import REPO_ROOT

CLS_HEAD = dict(type='LinearClsHead', num_classes=10, in_channels=32)
GAP = dict(type='GlobalAveragePooling')


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


def strides(model, size):
    run = record_events(model, size)
    found = discover_stage_sources(model, size, run)
    return [stride_of(run.events[run.calls(s.source)[0]].output,
                      run.image_hw) for s in found]


TEACHER = dict(
    _scope_='mmpretrain', type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, base_channels=8,
                  stem_channels=8),
    neck=GAP, head=dict(CLS_HEAD, in_channels=64))


def distill(student, size, **distiller):
    """OFAKDDistill of ``student`` (a config or model) from a small ResNet."""
    return MODELS.build(
        dict(_scope_='mmrazor', type='OFAKDDistill', architecture=student,
             teacher=copy.deepcopy(TEACHER), input_size=size,
             distiller=dict(type='OFAKDDistiller', **distiller)))


def one_step(algo, size, batch=2):
    algo.train()
    return algo(torch.randn(batch, 3, size, size),
                [DataSample().set_gt_label(i) for i in range(batch)],
                mode='loss')


# ------------------------------------------------------ declared stages


@pytest.mark.parametrize('backbone,neck,size,expected', [
    (dict(type='ResNet', depth=18), GAP, 64,
     [f'backbone.layer{i}' for i in (1, 2, 3, 4)]),
    (dict(type='MobileNetV2', widen_factor=0.5), GAP, 64,
     ['backbone.layer2', 'backbone.layer3', 'backbone.layer5',
      'backbone.conv2']),
    (dict(type='ConvNeXt', arch='atto'), None, 64,
     [f'backbone.stages.{i}' for i in range(4)]),
    (dict(type='SwinTransformer', arch=dict(
        embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]),
        img_size=64, window_size=4, pad_small_map=True), GAP, 64,
     [f'backbone.stages.{i}' for i in range(4)]),
    (dict(type='VisionTransformer', arch='deit-tiny', img_size=32,
          patch_size=8), None, 32,
     [f'backbone.layers.{i}' for i in (1, 3, 9, 11)]),
])
def test_the_papers_stages_are_the_declared_ones(backbone, neck, size,
                                                 expected):
    # the taps of Hao et al. (Sec. 4.1) for the paper's students
    model = classifier(backbone, neck)
    found = discover_stage_sources(model, size)
    assert [s.source for s in found] == expected
    assert all(s.reason.startswith('declared: ') for s in found)


def test_reasons_name_the_setting_stride_and_final_feature():
    model = classifier(dict(type='MobileNetV2', widen_factor=0.5), GAP)
    found = discover_stage_sources(model, 64)
    assert found[0].reason == 'declared: MobileNetV2.out_indices 1 (stride 4)'
    assert found[3].reason == ('declared: MobileNetV2.out_indices 7 '
                               '(stride 32, the final feature)')


def test_an_output_norm_belongs_to_the_stage_output():
    # ViT's final LayerNorm (ln1) runs before the last out_indices test:
    # the stage is the block before it.
    model = classifier(dict(type='VisionTransformer', arch='deit-tiny',
                            img_size=32, patch_size=8))
    found = discover_stage_sources(model, 32)
    assert found[3].source == 'backbone.layers.11'
    assert 'before its output step backbone.ln1' in found[3].reason


def test_squeeze_excitation_detours_are_not_downsamples():
    # MobileNetV3 blocks pool to 1x1 inside; the stages are still the last
    # blocks at strides 4, 8, 16 and the final conv at stride 32.
    model = classifier(dict(type='MobileNetV3', arch='small'), GAP)
    assert sources(model, 64) == [
        'backbone.layer1', 'backbone.layer3', 'backbone.layer8',
        'backbone.layer12'
    ]
    assert strides(model, 64) == [4, 8, 16, 32]


def test_vgg_taps_its_declared_stages_at_the_training_size():
    # Each VGG stage ends with its max-pool; the last one gives the final
    # 7x7 feature. Before: features.2/.5/.8/.11, strides 2 to 16.
    with torch.device('meta'):
        model = classifier(dict(type='VGG', depth=11, out_indices=(4, )),
                           GAP, dict(CLS_HEAD, in_channels=512))
    found = discover_stage_sources(model, 224)
    assert [s.source for s in found] == [
        'backbone.features.3', 'backbone.features.6', 'backbone.features.9',
        'backbone.features.12'
    ]
    assert strides(model, 224) == [4, 8, 16, 32]
    final = model.backbone(torch.zeros(1, 3, 224, 224, device='meta'))[-1]
    run = record_events(model, 224)
    stage4 = run.events[run.calls('backbone.features.12')[0]].output
    assert stage4.shape[1:] == tuple(final.shape[1:]) == (512, 7, 7)


@pytest.mark.parametrize('after_downsample', [False, True])
def test_swin_taps_end_before_the_downsample(after_downsample):
    # With out_after_downsample=True each Swin stage returns its tokens
    # after its patch merging (strides 8, 16, 32, 32); the stages still end
    # before it, at strides 4, 8, 16, 32, with the same shapes.
    model = classifier(
        dict(type='SwinTransformer', img_size=64, arch=dict(
            embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 1, 1, 1]),
            window_size=4, pad_small_map=True,
            out_after_downsample=after_downsample), GAP,
        dict(CLS_HEAD, in_channels=128))
    run = record_events(model, 64)
    found = discover_stage_sources(model, 64, run)
    if after_downsample:
        assert [s.source for s in found] == [
            'backbone.stages.0.blocks.1', 'backbone.stages.1.blocks.1',
            'backbone.stages.2.blocks.1', 'backbone.stages.3'
        ]
        assert 'before the downsample backbone.stages.0.downsample' in \
            found[0].reason
    else:
        assert [s.source for s in found] == [
            f'backbone.stages.{i}' for i in range(4)]
    shapes = [run.events[run.calls(s.source)[0]].output.shape for s in found]
    assert shapes == [(2, 256, 16), (2, 64, 32), (2, 16, 64), (2, 4, 128)]


def test_fewer_than_four_declared_stages_take_the_stem():
    # ShuffleNetV2 declares its stages at strides 8, 16, 32: stage 1 is the
    # end of the stride-4 stem (the max-pool).
    model = classifier(dict(type='ShuffleNetV2', widen_factor=0.5), GAP,
                       dict(CLS_HEAD, in_channels=1024))
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        'backbone.maxpool', 'backbone.layers.0', 'backbone.layers.1',
        'backbone.layers.3'
    ]
    assert found[0].reason.startswith('stem: ')
    assert strides(model, 64) == [4, 8, 16, 32]


# ------------------------------------------------------ isotropic stacks


def test_depth_split():
    expected = {
        4: [1, 2, 3, 4], 5: [2, 3, 4, 5], 6: [2, 4, 5, 6], 7: [2, 4, 5, 7],
        8: [2, 4, 6, 8], 9: [2, 4, 7, 9], 10: [2, 4, 8, 10],
        11: [2, 4, 9, 11], 12: [2, 4, 10, 12], 24: [2, 4, 22, 24]
    }
    assert {n: depth_split(n) for n in expected} == expected
    with pytest.raises(StageDiscoveryError, match='3 blocks'):
        depth_split(3)


def isotropic(kind, num_layers):
    if kind == 'VisionTransformer':
        return classifier(dict(
            type='VisionTransformer', img_size=32, patch_size=8,
            arch=dict(embed_dims=32, num_layers=num_layers, num_heads=2,
                      feedforward_channels=64)))
    return classifier(
        dict(type='MlpMixer', img_size=32, patch_size=8,
             arch=dict(embed_dims=32, num_layers=num_layers,
                       tokens_mlp_dims=16, channels_mlp_dims=64)),
        dict(type='GlobalAveragePooling', dim=1))


@pytest.mark.parametrize('kind', ['VisionTransformer', 'MlpMixer'])
@pytest.mark.parametrize('num_layers,blocks', [
    (4, [1, 2, 3, 4]), (5, [2, 3, 4, 5]), (6, [2, 4, 5, 6]),
    (7, [2, 4, 5, 7]), (8, [2, 4, 6, 8]), (9, [2, 4, 7, 9]),
    (10, [2, 4, 8, 10]), (11, [2, 4, 9, 11]), (12, [2, 4, 10, 12])
])
def test_isotropic_students_tap_four_distinct_blocks(kind, num_layers,
                                                     blocks):
    # before: 4 layers -> layers.1, 3, 1, 3 (stage table); 5 -> 1, 3, 2, 4
    found = discover_stage_sources(isotropic(kind, num_layers), 32)
    assert [s.source for s in found] == [
        f'backbone.layers.{b - 1}' for b in blocks]
    assert f'block {blocks[0]} of the {num_layers} blocks' in found[0].reason


@pytest.mark.parametrize('kind', ['VisionTransformer', 'MlpMixer'])
def test_three_layer_student_says_what_to_set(kind):
    # before: KeyError blaming `stage_sources` with ResNet names
    with pytest.raises(StageDiscoveryError) as info:
        distill(isotropic(kind, 3), 32)
    message = str(info.value)
    assert 'isotropic stack of 3 blocks' in message
    assert '`num_layers`' in message and 'stages=(2, 3, 4)' in message
    assert "'backbone.layers.2'" in message and 'layer4' not in message


def test_a_five_layer_vit_student_distills():
    algo = distill(isotropic('VisionTransformer', 5), 32)
    assert [i['module'] for i in algo.distiller.stage_info] == [
        f'backbone.layers.{b}' for b in (1, 2, 3, 4)]
    losses = one_step(algo, 32)
    assert all(torch.isfinite(losses[f'distill.loss_ofa_stage{k}'])
               for k in (1, 2, 3, 4))


# -------------------------------- taps that would silently be wrong


def rev_vit(**backbone):
    return classifier(
        dict(type='RevVisionTransformer', img_size=32, patch_size=8,
             arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                       feedforward_channels=64), **backbone),
        None, dict(CLS_HEAD, in_channels=64))


def test_reversible_vit_needs_ordinary_backprop():
    # Its layers train inside an autograd Function: a feature recorded
    # there carries no gradient back to the student.
    model = rev_vit()
    model.train()
    seen = []
    model.backbone.layers[1].register_forward_hook(
        lambda m, i, o: seen.append(o[0].requires_grad))
    model.extract_feat(torch.randn(2, 3, 32, 32))
    assert seen == [False]
    with pytest.raises(ValueError, match='no_custom_backward=True'):
        distill(model, 32)


def test_reversible_vit_taps_blocks_with_both_streams():
    # before: layers.{0,1,2,3}.ffn, residual sub-branches of the blocks
    algo = distill(rev_vit(no_custom_backward=True), 32)
    info = algo.distiller.stage_info
    assert [i['module'] for i in info] == [
        f'backbone.layers.{i}' for i in range(4)]
    # the two 32-wide streams of a block, side by side (no class token)
    assert [i['shape'] for i in info] == [[16, 64]] * 4
    losses = one_step(algo, 32)
    losses['distill.loss_ofa_stage1'].backward()
    grad = algo.student.backbone.layers[0].ffn.layers[0][0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_tnt_taps_are_copied_before_the_next_layer_writes_into_them():
    # TNT's layer i+1 writes into the patch tokens of layer i in place
    # (`patch_embed[:, 1:] = ...`): the branch must see what the stage
    # output, not the updated tokens.
    student = classifier(
        dict(type='TNT', img_size=32, patch_size=8,
             arch=dict(embed_dims_outer=32, embed_dims_inner=8,
                       num_layers=4, num_heads_outer=2, num_heads_inner=2)),
        None, dict(CLS_HEAD, in_channels=32))
    algo = distill(student, 32)
    info = algo.distiller.stage_info
    assert [i['module'] for i in info] == [
        f'backbone.layers.{i}.outer_block' for i in range(4)]
    assert all('changed in place later' in i['why'] for i in info[:3])
    produced = {}
    for i in range(4):
        algo.student.backbone.layers[i].outer_block.register_forward_hook(
            lambda m, inp, out, i=i: produced.__setitem__(i, out.clone()))
    recorders = algo.distiller.student_recorders
    algo.eval()
    x = torch.randn(2, 3, 32, 32)
    with recorders, torch.no_grad():
        algo.student(x, [DataSample().set_gt_label(0)] * 2, mode='loss')
        for i in range(4):
            recorded = recorders.get_recorder(f'stage{i + 1}')
            assert torch.equal(recorded.get_record_data(), produced[i]), i


def resnet18():
    return classifier(dict(type='ResNet', depth=18), GAP,
                      dict(CLS_HEAD, in_channels=512))


@pytest.mark.parametrize('stage_sources,message', [
    ({1: 'backbone.layer1', 2: 'backbone.layer1', 3: 'backbone.layer3',
      4: 'backbone.layer4'}, "Stages 1 and 2 both tap 'backbone.layer1'"),
    ({1: 'backbone.layer2', 2: 'backbone.layer1', 3: 'backbone.layer3',
      4: 'backbone.layer4'},
     'Stage 2 (backbone.layer1) comes before stage 1 (backbone.layer2)'),
    ({1: 'backbone.layer1.0.conv1', 2: 'backbone.layer2',
      3: 'backbone.layer3', 4: 'backbone.layer4'},
     'Stage 1 taps backbone.layer1.0.conv1, inside the block '
     'backbone.layer1.0'),
])
def test_wrong_stage_sources_fail_at_build(stage_sources, message):
    with pytest.raises(StageDiscoveryError) as info:
        distill(resnet18(), 32, stage_sources=stage_sources)
    assert message in str(info.value)


# ---------------------------------------------------- the heuristic walk


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
    """Four stages whose outputs are channels-last (B, H, W, C) maps; no
    ``out_indices``."""

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


def test_channels_last_stages_by_the_heuristic_walk():
    model = with_backbone(ChannelsLastNet(), GAP)
    assert map_data_format((2, 16, 16, 24), (64, 64)) == 'channels_last'
    assert map_data_format((2, 24, 16, 16), (64, 64)) == 'channels_first'
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        f'backbone.stages.{i}' for i in range(4)]
    assert all(s.reason.startswith(
        'heuristic (ChannelsLastNet declares no stages): ') for s in found)


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
    assert sources(model, 64) == [
        f'backbone.blocks.{i}' for i in (1, 3, 5, 7)]
    layout = token_layout(model, 'backbone.blocks.1', 65, 64)
    assert (layout.grid, layout.num_extra_tokens) == ((8, 8), 1)
    assert 'dry runs at 64x64 and 96x96' in layout.reason
    assert solve_token_grid((65, 145), ((64, 64), (96, 96))) == [((8, 8), 1)]


def test_token_grid_that_cannot_be_told_keeps_the_models_error():
    # The second dry run fails inside the model: its own error passes,
    # with a note naming the settings that would make it unnecessary.
    model = with_backbone(HiddenGridTokens(fixed_size=64))
    with pytest.raises(AssertionError, match='input must be 64 px') as info:
        token_layout(model, 'backbone.blocks.1', 65, 64)
    note = ' '.join(info.value.__notes__)
    assert 'second dry run at 96x96' in note
    assert 'num_extra_tokens' in note and 'patch_resolution' in note


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


def test_multi_branch_backbone_lists_its_candidate_modules():
    model = classifier(
        dict(type='HRNet', arch='w18'),
        dict(type='HRFuseScales', in_channels=(18, 36, 72, 144)),
        dict(CLS_HEAD, in_channels=2048))
    with pytest.raises(StageDiscoveryError) as info:
        discover_stage_sources(model, 64)
    message = str(info.value)
    assert 'several branches' in message
    # real modules of this student with their shapes, per stride
    assert 'stride 4: ' in message and 'stride 32: ' in message
    assert 'backbone.stage4.2.fuse_layers.3.2 (144, 2, 2)' in message
    assert 'layer4' not in message


def test_dry_run_records_calls_not_tensors():
    model = classifier(dict(type='ResNet', depth=18), GAP)
    before = copy.deepcopy(model.state_dict())
    model.train()
    run = record_events(model, 64)
    assert model.training  # mode restored
    assert model.backbone.out_indices == (3, )  # setting restored
    assert all(torch.equal(before[k], v)
               for k, v in model.state_dict().items())  # BN stats untouched
    names = [e.name for e in run.events]
    assert names[0] == 'backbone' and 'backbone.layer4' in names
    layer1 = run.events[names.index('backbone.layer1')]
    assert layer1.output.shape == (2, 64, 16, 16) and layer1.is_block
    assert [(d.setting, d.index) for d in run.declared] == [
        ('out_indices', i) for i in range(4)]


def test_timm_classifier_stages_from_feature_info():
    model = MODELS.build(
        dict(_scope_='mmpretrain', type='TimmClassifier',
             model_name='test_resnet', pretrained=False, num_classes=10))
    found = discover_stage_sources(model, 64)
    assert [s.source for s in found] == [
        f'model.layer{i}' for i in (1, 2, 3, 4)]
    assert found[0].reason.startswith('declared: ResNet.feature_info')


def test_channels_last_stages_get_channels_last_projectors():
    algo = distill(with_backbone(ChannelsLastNet(), GAP), 64)
    cfgs = algo.distiller.projector_cfgs
    assert [c['in_channels'] for c in cfgs.values()] == [24, 48, 96, 32]
    assert {c.get('data_format') for c in cfgs.values()} == {'channels_last'}
    losses = one_step(algo, 64)
    assert all(torch.isfinite(losses[f'distill.loss_ofa_stage{k}'])
               for k in (1, 2, 3, 4))


def test_the_stage_api_has_no_surface_for_tests_alone():
    # Every function and class the stage modules export is used by the
    # package or its tools, and so is every property of `Output`
    # (before: `resolve_stage_sources` and `Output.channels` were not).
    files = glob.glob(osp.join(REPO_ROOT, 'ofakd_mm', '**', '*.py'),
                      recursive=True) + glob.glob(
                          osp.join(REPO_ROOT, 'tools', '**', '*.py'),
                          recursive=True)
    texts = {}
    for path in files:
        if osp.basename(path) != '__init__.py':
            with open(path, encoding='utf-8') as f:
                texts[osp.realpath(path)] = f.read()
    for name in stage_utils.__all__:
        obj = getattr(stage_utils, name)
        if not getattr(obj, '__module__', '').endswith(
                ('.stage_discovery', '.stage_sources')) or (
                isinstance(obj, type) and issubclass(obj, Exception)):
            continue  # not the stage API, or raised for users to catch
        defined = osp.realpath(inspect.getsourcefile(obj))
        assert any(re.search(rf'\b{name}\b', text)
                   for path, text in texts.items() if path != defined), name
    for name, value in vars(Output).items():
        if isinstance(value, property):
            assert any(re.search(rf'\.{name}\b', text)
                       for text in texts.values()), name
