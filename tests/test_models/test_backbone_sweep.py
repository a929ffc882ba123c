"""OFA-KD for every backbone class that mmpretrain's model zoo uses in an
``ImageClassifier`` (58 classes; :func:`zoo_backbones` derives them from the
zoo's metafiles):

- at each zoo model's own training size, the four stages found are the
  modules written in ``TAPS``, with the output shapes written there: any
  change of stage discovery fails a test (shape-only dry runs on the meta
  device);
- the smallest zoo model of each class distills as the student of a small
  ResNet-18: one loss + backward at a small input the model accepts, every
  tapped tensor unchanged after it is recorded.

A fast subset always runs; the rest is marked ``sweep`` (``pytest -m
sweep``, or ``-m "not sweep"`` to leave it out). Run this file as a script
to print the table of stages at the training sizes::

    python tests/test_models/test_backbone_sweep.py
"""
import functools
import os.path as osp
import re
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import torch
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ofakd_mm.models.utils import (StageSource, check_stage_sources,
                                   discover_stage_sources, pipeline_image_size,
                                   record_events, stage_feature)
from ofakd_mm.models.utils.stage_discovery import DryRun, stride_of

#: class -> (model-zoo name, input size). The smallest ImageNet model of
#: each class by metafile parameters, except where the metafile is wrong
#: (resnet34 listed at 2.2M, regnetx-3.2gf at 3.2M, repvgg-b0 at 3.4M).
#: 64 px where the model takes it; window, position-table and fixed-size
#: models at their own size.
SWEEP: Dict[str, Tuple[str, int]] = {
    'BEiTViT': ('beit-base-p16_beit-in21k-pre_3rdparty_in1k', 64),
    'CSPDarkNet': ('cspdarknet50_3rdparty_8xb32_in1k', 64),
    'CSPResNeXt': ('cspresnext50_3rdparty_8xb32_in1k', 64),
    'CSPResNet': ('cspresnet50_3rdparty_8xb32_in1k', 64),
    'Conformer': ('conformer-tiny-p16_3rdparty_in1k', 64),
    'ConvMixer': ('convmixer-768-32_3rdparty_in1k', 64),
    'ConvNeXt': ('convnext-v2-atto_3rdparty-fcmae_in1k', 64),
    'DaViT': ('davit-tiny_3rdparty_in1k', 224),
    'DeiT3': ('deit3-small-p16_3rdparty_in1k', 64),
    'DenseNet': ('densenet121_3rdparty_in1k', 64),
    'DistilledVisionTransformer': ('deit-tiny-distilled_3rdparty_in1k', 64),
    'EdgeNeXt': ('edgenext-xxsmall_3rdparty_in1k', 64),
    'EfficientFormer': ('efficientformer-l1_3rdparty_8xb128_in1k', 224),
    'EfficientNet': ('efficientnet-b0_3rdparty_8xb32_in1k', 64),
    'EfficientNetV2': ('efficientnetv2-b0_3rdparty_in1k', 64),
    'HRNet': ('hrnet-w18_3rdparty_8xb32_in1k', 64),
    'HiViT': ('hivit-tiny-p16_16xb64_in1k', 64),
    'HorNet': ('hornet-tiny_3rdparty_in1k', 64),
    'InceptionV3': ('inception-v3_3rdparty_8xb32_in1k', 112),
    'LeViT': ('levit-128s_3rdparty_in1k', 64),
    'MViT': ('mvitv2-tiny_3rdparty_in1k', 64),
    'MixMIMTransformer': ('mixmim-base_mixmim-pre_8xb128-coslr-100e_in1k',
                          224),
    'MlpMixer': ('mlp-mixer-base-p16_3rdparty_64xb64_in1k', 64),
    'MoCoV3ViT': ('vit-small-p16_mocov3-pre_8xb128-linear-coslr-90e_in1k',
                  64),
    'MobileNetV2': ('mobilenet-v2_8xb32_in1k', 64),
    'MobileNetV3': ('mobilenet-v3-small-050_3rdparty_in1k', 64),
    'MobileOne': ('mobileone-s0_8xb32_in1k', 64),
    'MobileViT': ('mobilevit-xxsmall_3rdparty_in1k', 64),
    'PCPVT': ('twins-pcpvt-small_3rdparty_8xb128_in1k', 64),
    'PoolFormer': ('poolformer-s12_3rdparty_32xb128_in1k', 64),
    'PyramidVig': ('pvig-tiny_3rdparty_in1k', 224),
    'RIFormer': ('riformer-s12_in1k', 64),
    'RegNet': ('regnetx-400mf_8xb128_in1k', 64),
    'RepLKNet': ('replknet-31l_in21k-pre_3rdparty_in1k-384px', 64),
    'RepMLPNet': ('repmlp-base_3rdparty_8xb64_in1k', 64),
    'RepVGG': ('repvgg-a0_8xb32_in1k', 64),
    'Res2Net': ('res2net50-w14-s8_3rdparty_8xb32_in1k', 64),
    'ResNeXt': ('resnext50-32x4d_8xb32_in1k', 64),
    'ResNet': ('resnet18_8xb32_in1k', 64),
    'ResNetV1c': ('resnetv1c50_8xb32_in1k', 64),
    'ResNetV1d': ('resnetv1d50_8xb32_in1k', 64),
    'ResNet_CIFAR': ('resnet18_8xb16_cifar10', 32),
    'RevVisionTransformer': ('revvit-small_3rdparty_in1k', 64),
    'SEResNet': ('seresnet50_8xb32_in1k', 64),
    'SVT': ('twins-svt-small_3rdparty_8xb128_in1k', 64),
    'ShuffleNetV1': ('shufflenet-v1-1x_16xb64_in1k', 64),
    'ShuffleNetV2': ('shufflenet-v2-1x_16xb64_in1k', 64),
    'SwinTransformer': ('swin-tiny_16xb64_in1k', 224),
    'SwinTransformerV2': ('swinv2-tiny-w16_3rdparty_in1k-256px', 256),
    'T2T_ViT': ('t2t-vit-t-14_8xb64_in1k', 64),
    'TNT': ('tnt-small-p16_3rdparty_in1k', 64),
    'TinyViT': ('tinyvit-5m_3rdparty_in1k', 64),
    'VAN': ('van-tiny_3rdparty_in1k', 64),
    'VGG': ('vgg11_8xb32_in1k', 224),
    'ViTEVA02': ('vit-tiny-p14_eva02-in21k-pre_3rdparty_in1k-336px', 64),
    'Vig': ('vig-tiny_3rdparty_in1k', 224),
    'VisionTransformer': ('deit-tiny_4xb256_in1k', 64),
    'XCiT': ('xcit-nano-12-p8_3rdparty_in1k', 64),
}

#: class -> (zoo training size, stages 1-4 (modules in ``backbone``),
#: their output shapes without the batch, token streams concatenated).
#: Stages of backbones that declare them (``out_indices``) end their
#: declared resolution stages; isotropic stacks are split after blocks 2, 4,
#: n-2 and n; InceptionV3, MixMIM, RepMLPNet, RevViT and TNT declare none.
TAPS: Dict[str, Tuple[int, List[str], List[Tuple[int, ...]]]] = {
    'BEiTViT': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(197, 768)] * 4),
    'CSPDarkNet': (
        224, ['stages.1', 'stages.2', 'stages.3', 'stages.4'],
        [(128, 56, 56), (256, 28, 28), (512, 14, 14), (1024, 7, 7)]),
    'CSPResNeXt': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'CSPResNet': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(128, 56, 56), (256, 28, 28), (512, 14, 14), (1024, 7, 7)]),
    'Conformer': (
        224, ['conv_trans_4.fusion_block', 'conv_trans_8.fusion_block',
              'conv_trans_11.fusion_block', 'conv_trans_12.fusion_block'],
        [(64, 56, 56), (128, 28, 28), (256, 14, 14), (256, 7, 7)]),
    'ConvMixer': (
        224, ['stages.1', 'stages.3', 'stages.29', 'stages.31'],
        [(768, 32, 32)] * 4),
    'ConvNeXt': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(40, 56, 56), (80, 28, 28), (160, 14, 14), (320, 7, 7)]),
    'DaViT': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(3136, 96), (784, 192), (196, 384), (49, 768)]),
    'DeiT3': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(197, 384)] * 4),
    'DenseNet': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (1024, 7, 7)]),
    'DistilledVisionTransformer': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(198, 192)] * 4),
    'EdgeNeXt': (
        256, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(24, 64, 64), (48, 32, 32), (88, 16, 16), (168, 8, 8)]),
    'EfficientFormer': (
        224, ['network.0', 'network.1', 'network.2', 'network.3'],
        [(48, 56, 56), (96, 28, 28), (224, 14, 14), (49, 448)]),
    'EfficientNet': (
        224, ['layers.2', 'layers.3', 'layers.4', 'layers.6'],
        [(24, 56, 56), (40, 28, 28), (112, 14, 14), (1280, 7, 7)]),
    'EfficientNetV2': (
        192, ['layers.2', 'layers.3', 'layers.5', 'layers.7'],
        [(32, 48, 48), (48, 24, 24), (112, 12, 12), (1280, 6, 6)]),
    'HRNet': (
        224, ['stage4.2.branches.0', 'stage4.2.branches.1',
              'stage4.2.branches.2', 'stage4.2.branches.3'],
        [(18, 56, 56), (36, 28, 28), (72, 14, 14), (144, 7, 7)]),
    'HiViT': (
        224, ['blocks.7', 'blocks.9', 'blocks.13', 'blocks.15'],
        [(196, 384)] * 4),
    'HorNet': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]),
    'InceptionV3': (
        299, ['Conv2d_4a_3x3', 'Mixed_5d', 'Mixed_6e', 'Mixed_7c'],
        [(192, 71, 71), (288, 35, 35), (768, 17, 17), (2048, 8, 8)]),
    'LeViT': (
        224, ['patch_embed.patch_embed.5', 'stages.0', 'stages.1', 'stages.2'],
        [(64, 28, 28), (196, 128), (49, 256), (16, 384)]),
    'MViT': (
        224, ['blocks.0', 'blocks.2', 'blocks.7', 'blocks.9'],
        [(3136, 96), (784, 192), (196, 384), (49, 768)]),
    'MixMIMTransformer': (
        224, ['layers.0.blocks.1', 'layers.1.blocks.1', 'layers.2.blocks.17',
              'layers.3'],
        [(3136, 128), (784, 256), (196, 512), (49, 1024)]),
    'MlpMixer': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(196, 768)] * 4),
    'MoCoV3ViT': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(197, 384)] * 4),
    'MobileNetV2': (
        224, ['layer2', 'layer3', 'layer5', 'conv2'],
        [(24, 56, 56), (32, 28, 28), (96, 14, 14), (1280, 7, 7)]),
    'MobileNetV3': (
        224, ['layer1', 'layer3', 'layer8', 'layer12'],
        [(8, 56, 56), (16, 28, 28), (24, 14, 14), (288, 7, 7)]),
    'MobileOne': (
        224, ['stage1', 'stage2', 'stage3', 'stage4'],
        [(48, 56, 56), (128, 28, 28), (256, 14, 14), (1024, 7, 7)]),
    'MobileViT': (
        224, ['layers.1', 'layers.2', 'layers.3', 'conv_1x1_exp'],
        [(24, 56, 56), (48, 28, 28), (64, 14, 14), (320, 7, 7)]),
    'PCPVT': (
        224, ['stages.0.2', 'stages.1.3', 'stages.2.5', 'stages.3.2'],
        [(3136, 64), (784, 128), (196, 320), (49, 512)]),
    'PoolFormer': (
        224, ['network.0', 'network.2', 'network.4', 'network.6'],
        [(64, 56, 56), (128, 28, 28), (320, 14, 14), (512, 7, 7)]),
    'PyramidVig': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(48, 56, 56), (96, 28, 28), (240, 14, 14), (384, 7, 7)]),
    'RIFormer': (
        224, ['network.0', 'network.2', 'network.4', 'network.6'],
        [(64, 56, 56), (128, 28, 28), (320, 14, 14), (512, 7, 7)]),
    'RegNet': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(32, 56, 56), (64, 28, 28), (160, 14, 14), (384, 7, 7)]),
    'RepLKNet': (
        384, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(192, 96, 96), (384, 48, 48), (768, 24, 24), (1536, 12, 12)]),
    'RepMLPNet': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]),
    'RepVGG': (
        224, ['stage_1', 'stage_2', 'stage_3', 'stage_4'],
        [(48, 56, 56), (96, 28, 28), (192, 14, 14), (1280, 7, 7)]),
    'Res2Net': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'ResNeXt': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'ResNet': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]),
    'ResNetV1c': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'ResNetV1d': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'ResNet_CIFAR': (
        32, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]),
    'RevVisionTransformer': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(196, 768)] * 4),
    'SEResNet': (
        224, ['layer1', 'layer2', 'layer3', 'layer4'],
        [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    'SVT': (
        224, ['stages.0.1', 'stages.1.1', 'stages.2.9', 'stages.3.3'],
        [(3136, 64), (784, 128), (196, 256), (49, 512)]),
    'ShuffleNetV1': (
        224, ['maxpool', 'layers.0', 'layers.1', 'layers.2'],
        [(24, 56, 56), (240, 28, 28), (480, 14, 14), (960, 7, 7)]),
    'ShuffleNetV2': (
        224, ['maxpool', 'layers.0', 'layers.1', 'layers.3'],
        [(24, 56, 56), (116, 28, 28), (232, 14, 14), (1024, 7, 7)]),
    'SwinTransformer': (
        224, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(3136, 96), (784, 192), (196, 384), (49, 768)]),
    'SwinTransformerV2': (
        256, ['stages.0', 'stages.1', 'stages.2', 'stages.3'],
        [(4096, 96), (1024, 192), (256, 384), (64, 768)]),
    'T2T_ViT': (
        224, ['encoder.1', 'encoder.3', 'encoder.11', 'encoder.13'],
        [(197, 384)] * 4),
    'TNT': (
        224, ['layers.1.outer_block', 'layers.3.outer_block',
              'layers.9.outer_block', 'layers.11.outer_block'],
        [(197, 384)] * 4),
    'TinyViT': (
        224, ['stages.0.blocks.1', 'stages.1.blocks.1', 'stages.2.blocks.5',
              'stages.3'],
        [(64, 56, 56), (784, 128), (196, 160), (49, 320)]),
    'VAN': (
        224, ['blocks1.2', 'blocks2.2', 'blocks3.4', 'blocks4.1'],
        [(32, 56, 56), (64, 28, 28), (160, 14, 14), (256, 7, 7)]),
    'VGG': (
        224, ['features.3', 'features.6', 'features.9', 'features.12'],
        [(128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]),
    'ViTEVA02': (
        336, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(577, 192)] * 4),
    'Vig': (
        224, ['blocks.1', 'blocks.3', 'blocks.9', 'blocks.11'],
        [(192, 14, 14)] * 4),
    'VisionTransformer': (
        224, ['layers.1', 'layers.3', 'layers.9', 'layers.11'],
        [(197, 192)] * 4),
    'XCiT': (
        224, ['xca_layers.1', 'xca_layers.3', 'xca_layers.11', 'ca_layers.1'],
        [(784, 128), (784, 128), (784, 128), (785, 128)]),
}

#: The one setting a backbone needs, the README's table: HRNet and
#: Conformer have no four stages in one chain (several branches at different
#: resolutions); RevViT trains through a custom backward that gives its
#: features no gradient. Without it the build fails and names it.
ONE_LINE: Dict[str, Dict[str, Any]] = {
    # the four branch outputs of the last module, strides 4, 8, 16, 32
    'HRNet': dict(stage_sources={
        k: f'backbone.stage4.2.branches.{k - 1}' for k in (1, 2, 3, 4)}),
    # the CNN branch's last block at strides 4, 8, 16, 32
    'Conformer': dict(stage_sources={
        1: 'backbone.conv_trans_4.fusion_block',
        2: 'backbone.conv_trans_8.fusion_block',
        3: 'backbone.conv_trans_11.fusion_block',
        4: 'backbone.conv_trans_12.fusion_block'
    }),
    'RevVisionTransformer': dict(backbone=dict(no_custom_backward=True)),
}

#: Always run: SE detours (MobileNetV3), the official code's EfficientNet,
#: a stem-only level (ShuffleNetV2), a conv stem before an isotropic stack
#: with a late class token (XCiT), maps then tokens with stages that end in
#: their downsample (TinyViT), an unfold before token transformers
#: (T2T-ViT), the one-line `stage_sources` of Conformer, and the cases of
#: issue 16: VGG, RevViT, TNT.
FAST = ('MobileNetV3', 'EfficientNet', 'ShuffleNetV2', 'XCiT', 'TinyViT',
        'T2T_ViT', 'Conformer', 'VGG', 'RevVisionTransformer', 'TNT')
#: Stages at the training size, always checked: those above, the paper's
#: student families and the other stage rules (stem stage, downsample that
#: ends a declared stage, output norm).
FAST_TAPS = FAST + ('ResNet', 'MobileNetV2', 'VisionTransformer',
                    'SwinTransformer', 'MlpMixer', 'DenseNet', 'LeViT',
                    'ShuffleNetV1', 'DaViT', 'HiViT')


def _without_init_cfg(cfg: Any) -> Any:
    # no pretrained weights: nothing may be downloaded
    if isinstance(cfg, dict):
        return {k: _without_init_cfg(v) for k, v in cfg.items()
                if k not in ('init_cfg', 'pretrained')}
    if isinstance(cfg, list):
        return [_without_init_cfg(v) for v in cfg]
    return cfg


@functools.lru_cache(maxsize=None)
def zoo_config(name: str) -> Any:
    """The config of model-zoo model ``name`` (parsed once)."""
    from mmpretrain.apis import ModelHub
    return ModelHub.get(name).config


def zoo_training_size(name: str) -> Optional[Tuple[int, int]]:
    """(H, W) of the images the zoo's train pipeline of ``name`` gives."""
    cfg = zoo_config(name)
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while isinstance(dataset, dict) and dataset.get('pipeline') is None:
        dataset = dataset.get('dataset')
    pipeline = dataset.get('pipeline') if isinstance(dataset, dict) \
        else cfg.get('train_pipeline')
    found = pipeline_image_size(pipeline)
    return found[0] if found else None


def zoo_student(name: str, size: int) -> Dict:
    """The model-zoo classifier ``name`` as a student config at ``size``,
    with its one-line setting (``ONE_LINE``) if it has one."""
    model = _without_init_cfg(zoo_config(name).model.to_dict())
    model['_scope_'] = 'mmpretrain'
    img_size = model['backbone'].get('img_size')
    if img_size is not None:
        model['backbone']['img_size'] = [size, size] if isinstance(
            img_size, (list, tuple)) else size
    if model['head']['type'] in ('LeViTClsHead', 'EfficientFormerClsHead'):
        # mmpretrain refuses to train these heads' distillation branch
        model['head']['distillation'] = False
    backbone = model['backbone']['type']
    model['backbone'].update(ONE_LINE.get(backbone, {}).get('backbone', {}))
    return model


def small_teacher(num_classes: int) -> Dict:
    """A ResNet-18 of width 16."""
    return dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=16,
                      base_channels=16),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=128))


def stages_at_training_size(
        backbone: str) -> Tuple[DryRun, List[StageSource]]:
    """A shape-only dry run (meta device) of the zoo student of
    ``backbone`` at its training size, and its stages (the one-line
    ``stage_sources`` where it needs them, checked)."""
    size = TAPS[backbone][0]
    model = PRETRAIN_MODELS.build(zoo_student(SWEEP[backbone][0], size))
    model = model.to('meta')
    run = record_events(model, size)
    user = ONE_LINE.get(backbone, {}).get('stage_sources')
    if user is None:
        return run, discover_stage_sources(model, size, run)
    found = [StageSource(k, v, 'user: stage_sources')
             for k, v in user.items()]
    check_stage_sources(run, found)
    return run, found


def _shape(run: DryRun, source: str) -> Tuple[int, ...]:
    return run.events[run.calls(source)[0]].output.shape[1:]


def check_taps(backbone: str) -> None:
    size, taps, shapes = TAPS[backbone]
    assert zoo_training_size(SWEEP[backbone][0]) == (size, size)
    run, found = stages_at_training_size(backbone)
    names = [s.source for s in found]
    assert names == [f'backbone.{t}' for t in taps]
    assert [_shape(run, n) for n in names] == shapes


@pytest.mark.parametrize('backbone', FAST_TAPS)
def test_zoo_student_taps_at_training_size(backbone):
    check_taps(backbone)


@pytest.mark.sweep
@pytest.mark.parametrize('backbone',
                         [b for b in SWEEP if b not in FAST_TAPS])
def test_zoo_student_taps_at_training_size_sweep(backbone):
    check_taps(backbone)


def distill_once(backbone: str) -> Dict[str, Any]:
    """Build the OFA-KD algorithm for the sweep's student of ``backbone``,
    run one loss + backward, check that no tapped tensor changed after it
    was recorded, and describe what was built."""
    name, size = SWEEP[backbone]
    student = zoo_student(name, size)
    num_classes = student['head'].get('num_classes') or \
        student['backbone'].get('num_classes')
    start = time.perf_counter()
    algo = MODELS.build(
        dict(_scope_='mmrazor', type='OFAKDDistill', architecture=student,
             teacher=small_teacher(num_classes), input_size=size,
             distiller=dict(type='OFAKDDistiller',
                            stage_sources=ONE_LINE.get(backbone, {}).get(
                                'stage_sources'))))
    assert type(algo.student.backbone).__name__ == backbone
    algo.train()
    losses = algo(torch.randn(2, 3, size, size),
                  [DataSample().set_gt_label(i) for i in (1, 2)],
                  mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total)
    distiller = algo.distiller
    for k in (1, 2, 3, 4):
        assert torch.isfinite(losses[f'distill.loss_ofa_stage{k}'])
        projector = distiller.connectors[f'stage{k}']
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in projector.parameters()), k
    # What a branch gets is what its stage output: copied at the hook,
    # compared once the whole forward has run.
    modules = dict(algo.student.named_modules())
    produced: Dict[int, Any] = {}
    handles = [
        modules[info['module']].register_forward_hook(
            lambda m, i, o, k=info['stage']: produced.__setitem__(
                k, _tensor(stage_feature(o)).clone()))
        for info in distiller.stage_info
    ]
    recorders = distiller.student_recorders
    algo.eval()
    with recorders, torch.no_grad():
        algo.student(torch.randn(2, 3, size, size),
                     [DataSample().set_gt_label(i) for i in (1, 2)],
                     mode='loss')
        for k in (1, 2, 3, 4):
            recorded = _tensor(
                recorders.get_recorder(f'stage{k}').get_record_data())
            assert torch.equal(recorded, produced[k]), k
    for handle in handles:
        handle.remove()
    return dict(
        model=name, size=size, seconds=time.perf_counter() - start,
        stages=[i['module'] for i in distiller.stage_info],
        reasons=[i['why'] for i in distiller.stage_info],
        params=[sum(p.numel() for p in distiller.connectors[f'stage{k}']
                    .parameters()) for k in (1, 2, 3, 4)])


def _tensor(feature: Any) -> torch.Tensor:
    return feature[0] if isinstance(feature, (tuple, list)) else feature


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    # Small models at 64 px are thousands of tiny ops: one thread is several
    # times faster than two when the cores are shared (OpenMP barriers).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def check(backbone: str) -> None:
    built = distill_once(backbone)
    user = 'stage_sources' in ONE_LINE.get(backbone, {})
    assert all(r.startswith('user: ') == user for r in built['reasons']), \
        built['reasons']


@pytest.mark.parametrize('backbone', FAST)
def test_zoo_student_distills(backbone):
    check(backbone)


@pytest.mark.sweep
@pytest.mark.parametrize('backbone',
                         [b for b in SWEEP if b not in FAST])
def test_zoo_student_distills_sweep(backbone):
    check(backbone)


@pytest.mark.parametrize('backbone', sorted(ONE_LINE))
def test_the_one_line_is_needed_and_named(backbone):
    # without its setting the build fails before training, naming it
    name, size = SWEEP[backbone]
    student = zoo_student(name, size)
    student['backbone'] = {
        k: v for k, v in student['backbone'].items()
        if k not in ONE_LINE[backbone].get('backbone', {})}
    with pytest.raises(ValueError) as info:
        MODELS.build(
            dict(_scope_='mmrazor', type='OFAKDDistill',
                 architecture=student, teacher=small_teacher(1000),
                 input_size=size, distiller=dict(type='OFAKDDistiller')))
    setting = next(iter(ONE_LINE[backbone].get('backbone', {
        'stage_sources': 0})))
    assert f'{setting}=' in str(info.value)


def zoo_backbones() -> Dict[str, str]:
    """Backbone class -> smallest ImageClassifier with a head in the zoo."""
    from mmpretrain import list_models
    from mmpretrain.apis import ModelHub
    smallest: Dict[str, Tuple[float, str]] = {}
    for name in list_models():
        try:
            meta = ModelHub.get(name)
        except Exception:  # configs mmengine cannot read (lazy imports)
            continue
        model = meta.config.get('model', {})
        if model.get('type') != 'ImageClassifier' or not model.get('head'):
            continue
        params: Optional[float] = getattr(meta.data.get('Metadata'),
                                          'parameters', None)
        current = (params or float('inf'), name)
        backbone = model['backbone']['type']
        smallest[backbone] = min(smallest.get(backbone, current), current)
    return {k: v[1] for k, v in smallest.items()}


@pytest.mark.sweep
def test_sweep_covers_every_zoo_backbone():
    zoo = zoo_backbones()
    assert set(SWEEP) == set(TAPS) == set(zoo)
    # the README's count: all but those that need their one line
    from conftest import REPO_ROOT
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        readme = ' '.join(f.read().split())
    assert (f'{len(zoo) - len(ONE_LINE)} of the {len(zoo)} backbone '
            'classes') in readme
    wrong_metafile = {'ResNet', 'RegNet', 'RepVGG'}
    for backbone, name in zoo.items():
        if backbone not in wrong_metafile:
            assert SWEEP[backbone][0] == name or name.split('_')[0] == \
                SWEEP[backbone][0].split('_')[0], backbone


def _table_row(backbone: str) -> str:
    size, _, _ = TAPS[backbone]
    try:
        run, found = stages_at_training_size(backbone)
    except Exception as e:  # report every backbone
        return f'| {backbone} | {size} | {type(e).__name__}: {e} | | |'
    taps = ', '.join(s.source.replace('backbone.', '') for s in found)
    strides = ', '.join(
        str(stride_of(run.events[run.calls(s.source)[0]].output,
                      run.image_hw)) for s in found)
    return f'| {backbone} | {size} | {taps} | {strides} | {_why(found)} |'


def _why(found: List[StageSource]) -> str:
    """The reasons of four stages in a few words."""
    words = []
    for s in found:
        kind = s.reason.split(':')[0]
        if kind == 'declared':
            setting = re.search(r'\.(out_indices|out_scales|feature_info)',
                                s.reason)
            kind = f'declared ({setting.group(1)})' if setting else kind
        if 'isotropic' in s.reason:
            kind += ', isotropic split'
        words.append(kind)
    down = [str(s.stage) for s in found if 'that ends' in s.reason]
    steps = [str(s.stage) for s in found if 'output step' in s.reason]
    notes = [f'stage {", ".join(down)}: before the downsample its '
             'declared output includes'] if down else []
    notes += [f'stage {", ".join(steps)}: before an output norm/identity'
              ] if steps else []
    return '; '.join(list(dict.fromkeys(words)) + notes)


if __name__ == '__main__':
    import ofakd_mm  # noqa: F401  (compatibility layer before mmrazor)
    torch.set_num_threads(1)
    print('| backbone | px | stages 1-4 | strides | why |\n'
          '|---|---|---|---|---|')
    for backbone in SWEEP:
        print(_table_row(backbone), flush=True)
