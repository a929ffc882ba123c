"""The stage table: which module of an mmpretrain classifier ends each of
the four OFA-KD stages, for the families whose taps are fixed by the paper
(Hao et al., NeurIPS 2023) or by this package's configs. It is consulted
before automatic discovery (:mod:`.stage_discovery`), and a distiller's
``stage_sources`` overrides both."""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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


def table_stage_sources(
        model: nn.Module,
        prefix: str = 'backbone') -> Optional[Tuple[str, List[str]]]:
    """The stage table's four module names for ``model``, if it has any.

    Args:
        model (nn.Module): A classifier.
        prefix (str): Attribute of ``model`` holding the backbone.

    Returns:
        tuple[str, list[str]] | None: The table entry's class name and the
        names of stages 1..4 from the classifier root, or None if the
        backbone is not in the table.
    """
    backbone = getattr(model, prefix, None)
    if not isinstance(backbone, nn.Module):
        return None
    for cls in type(backbone).__mro__:
        fn = STAGE_SOURCES.get(cls.__name__)
        if fn is not None:
            names = fn(backbone)
            if len(names) != 4:
                raise ValueError(
                    f'The stage table gives {len(names)} stages for '
                    f'{type(backbone).__name__}, OFA-KD needs 4: give '
                    "`stage_sources={1: 'backbone.a', 2: ..., 3: ..., 4: "
                    "...}` in the distiller config.")
            return cls.__name__, [f'{prefix}.{name}' for name in names]
    return None


def resolve_stage_sources(model: nn.Module, stages: Sequence[int],
                          prefix: str = 'backbone') -> List[str]:
    """Module names (from the classifier root) of the given 1-based stages,
    from the stage table.

    Args:
        model (nn.Module): An mmpretrain classifier with a ``backbone``.
        stages (Sequence[int]): Stage indices, each in 1..4.
        prefix (str): Attribute of ``model`` holding the backbone.

    Returns:
        list[str]: e.g. ``['backbone.layer1', 'backbone.layer4']``.
    """
    if not isinstance(getattr(model, prefix, None), nn.Module):
        raise KeyError(
            f'{type(model).__name__} has no `{prefix}`: name the module of '
            'each stage in the distiller config, e.g. '
            "stage_sources={1: 'layer1', 2: 'layer2', 3: 'layer3', "
            "4: 'layer4'}.")
    entry = table_stage_sources(model, prefix)
    if entry is None:
        backbone = getattr(model, prefix)
        raise KeyError(
            f'The stage table does not list backbone '
            f'{type(backbone).__name__} (it lists {sorted(STAGE_SOURCES)}): '
            'OFAKDDistill finds its stages from a dry run, or name them in '
            "the distiller config, e.g. stage_sources={1: 'backbone.layer1', "
            "2: 'backbone.layer2', 3: 'backbone.layer3', 4: "
            "'backbone.layer4'}, or register them with "
            '`ofakd_mm.models.utils.register_stage_sources`.')
    return [entry[1][k - 1] for k in stages]
