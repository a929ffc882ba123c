"""Which module of an mmpretrain classifier ends each of the four OFA-KD
stages (spec section 3)."""
from typing import Callable, Dict, List, Sequence

import torch.nn as nn

StageFn = Callable[[nn.Module], List[str]]

#: backbone class name -> function(backbone) -> 4 module names in it.
STAGE_SOURCES: Dict[str, StageFn] = {}


def register_stage_sources(*names: str) -> Callable[[StageFn], StageFn]:
    """Register the stage-module function of the backbone classes ``names``.

    Subclasses of a registered class resolve to it, so only new families need
    an entry.
    """

    def _register(fn: StageFn) -> StageFn:
        for name in names:
            STAGE_SOURCES[name] = fn
        return fn

    return _register


@register_stage_sources('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNet_CIFAR')
def _resnet_stages(backbone: nn.Module) -> List[str]:
    return list(backbone.res_layers)


@register_stage_sources('MobileNetV2')
def _mobilenet_v2_stages(backbone: nn.Module) -> List[str]:
    # The last blocks at strides 4, 8 and 16, then the 1280-channel conv.
    return ['layer2', 'layer3', 'layer5', 'conv2']


@register_stage_sources('ConvNeXt', 'SwinTransformer', 'SwinTransformerV2')
def _staged_stages(backbone: nn.Module) -> List[str]:
    # Swin stages return (tokens, hw) before their patch-merging downsample.
    return [f'stages.{i}' for i in range(len(backbone.stages))]


@register_stage_sources('VisionTransformer', 'DistilledVisionTransformer',
                        'BEiTViT', 'MlpMixer')
def _isotropic_stages(backbone: nn.Module) -> List[str]:
    """After blocks 2, 4, n-2 and n (1-based) of an n-block model: 2, 4, 10,
    12 for 12 blocks and 2, 4, 22, 24 for 24."""
    n = len(backbone.layers)
    return [f'layers.{i}' for i in (1, 3, n - 3, n - 1)]


def resolve_stage_sources(model: nn.Module, stages: Sequence[int],
                          prefix: str = 'backbone') -> List[str]:
    """Module names (from the classifier root) of the given 1-based stages.

    Args:
        model (nn.Module): An mmpretrain classifier with a ``backbone``.
        stages (Sequence[int]): Stage indices, each in 1..4.
        prefix (str): Attribute of ``model`` holding the backbone.

    Returns:
        list[str]: e.g. ``['backbone.layer1', 'backbone.layer4']``.
    """
    backbone = getattr(model, prefix, None)
    if backbone is None:
        raise KeyError(
            f'{type(model).__name__} has no `{prefix}`: OFA-KD needs an '
            'mmpretrain classifier, or `stage_sources` naming the modules of '
            'each stage in the distiller config.')
    fn = None
    for cls in type(backbone).__mro__:
        fn = STAGE_SOURCES.get(cls.__name__)
        if fn is not None:
            break
    if fn is None:
        raise KeyError(
            f'OFA-KD does not know the stages of backbone '
            f'{type(backbone).__name__} (known: {sorted(STAGE_SOURCES)}). '
            "Name them in the distiller config, e.g. stage_sources=dict("
            "stage1='backbone.layer1', ...), or register them with "
            '`ofakd_mm.models.utils.register_stage_sources`.')
    names = fn(backbone)
    if len(names) != 4:
        raise ValueError(
            f'{type(backbone).__name__} has {len(names)} stages, OFA-KD '
            'expects 4: give `stage_sources` in the distiller config.')
    return [f'{prefix}.{names[k - 1]}' for k in stages]
