"""OFA-KD for every backbone of the mmpretrain model zoo: the smallest
``ImageClassifier`` of each backbone class (by the metafile's parameter
count) distills as the student of a small ResNet-18, one loss + backward at
a small input the model accepts, with its stages found from a dry run.

A fast subset always runs; the full sweep is marked ``sweep``
(``pytest -m sweep``, or ``-m "not sweep"`` to leave it out). Run this file
as a script to print the sweep table::

    python tests/test_models/test_backbone_sweep.py
"""
import time
from typing import Any, Dict, Optional, Tuple

import pytest
import torch
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

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

#: Backbones without four stages in one chain (several branches at
#: different resolutions): the one line of `stage_sources` a user writes
#: (the README table). Discovery stops on them before training and says so.
STAGE_SOURCES: Dict[str, Dict[int, str]] = {
    # the four branch outputs of the last module, strides 4, 8, 16, 32
    'HRNet': {k: f'backbone.stage4.2.branches.{k - 1}' for k in (1, 2, 3, 4)},
    # the CNN branch's last block at strides 4, 8, 16, 32
    'Conformer': {
        1: 'backbone.conv_trans_4.fusion_block',
        2: 'backbone.conv_trans_8.fusion_block',
        3: 'backbone.conv_trans_11.fusion_block',
        4: 'backbone.conv_trans_12.fusion_block'
    },
}

#: Always run: SE detours (MobileNetV3), the official code's EfficientNet,
#: a stem-only level (ShuffleNetV2), a conv stem before an isotropic stack
#: with a late class token (XCiT), maps then tokens with stages that end in
#: their downsample (TinyViT), an unfold before token transformers
#: (T2T-ViT), and the one-line `stage_sources` of Conformer.
FAST = ('MobileNetV3', 'EfficientNet', 'ShuffleNetV2', 'XCiT', 'TinyViT',
        'T2T_ViT', 'Conformer')


def _without_init_cfg(cfg: Any) -> Any:
    # no pretrained weights: nothing may be downloaded
    if isinstance(cfg, dict):
        return {k: _without_init_cfg(v) for k, v in cfg.items()
                if k not in ('init_cfg', 'pretrained')}
    if isinstance(cfg, list):
        return [_without_init_cfg(v) for v in cfg]
    return cfg


def zoo_student(name: str, size: int) -> Dict:
    """The model-zoo classifier ``name`` as a student config at ``size``."""
    from mmpretrain.apis import ModelHub
    model = _without_init_cfg(ModelHub.get(name).config.model.to_dict())
    model['_scope_'] = 'mmpretrain'
    img_size = model['backbone'].get('img_size')
    if img_size is not None:
        model['backbone']['img_size'] = [size, size] if isinstance(
            img_size, (list, tuple)) else size
    if model['head']['type'] in ('LeViTClsHead', 'EfficientFormerClsHead'):
        # mmpretrain refuses to train these heads' distillation branch
        model['head']['distillation'] = False
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


def distill_once(backbone: str) -> Dict[str, Any]:
    """Build the OFA-KD algorithm for the sweep's student of ``backbone``,
    run one loss + backward and describe what was built."""
    name, size = SWEEP[backbone]
    student = zoo_student(name, size)
    num_classes = student['head'].get('num_classes') or \
        student['backbone'].get('num_classes')
    start = time.perf_counter()
    algo = MODELS.build(
        dict(_scope_='mmrazor', type='OFAKDDistill', architecture=student,
             teacher=small_teacher(num_classes), input_size=size,
             distiller=dict(type='OFAKDDistiller',
                            stage_sources=STAGE_SOURCES.get(backbone))))
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
    return dict(
        model=name, size=size, seconds=time.perf_counter() - start,
        stages=[distiller.student_recorders.get_recorder(f'stage{k}').source
                for k in (1, 2, 3, 4)],
        reasons=[distiller.stage_reasons[f'stage{k}'] for k in (1, 2, 3, 4)],
        params=[sum(p.numel() for p in distiller.connectors[f'stage{k}']
                    .parameters()) for k in (1, 2, 3, 4)])


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
    expected = 'user: ' if backbone in STAGE_SOURCES else 'discovered: '
    assert all(r.startswith(expected) or r.startswith('stage table')
               for r in built['reasons']), built['reasons']


@pytest.mark.parametrize('backbone', FAST)
def test_zoo_student_distills(backbone):
    check(backbone)


@pytest.mark.sweep
@pytest.mark.parametrize('backbone',
                         [b for b in SWEEP if b not in FAST])
def test_zoo_student_distills_sweep(backbone):
    check(backbone)


def test_few_backbones_need_stage_sources():
    assert set(STAGE_SOURCES) <= set(SWEEP)
    assert len(SWEEP) - len(STAGE_SOURCES) >= 54


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
    assert set(SWEEP) == set(zoo)
    wrong_metafile = {'ResNet', 'RegNet', 'RepVGG'}
    for backbone, name in zoo.items():
        if backbone not in wrong_metafile:
            assert SWEEP[backbone][0] == name or name.split('_')[0] == \
                SWEEP[backbone][0].split('_')[0], backbone


if __name__ == '__main__':
    import ofakd_mm  # noqa: F401  (compatibility layer before mmrazor)
    torch.set_num_threads(1)
    print('| backbone | model | px | stages found (1-4) | branch params | '
          'result | s |\n|---|---|---|---|---|---|---|')
    for backbone in SWEEP:
        try:
            row = distill_once(backbone)
        except Exception as e:  # report every backbone
            print(f'| {backbone} | {SWEEP[backbone][0]} | '
                  f'{SWEEP[backbone][1]} | | | {type(e).__name__}: {e} | |')
            continue
        how = row['reasons'][0].split(':')[0].split(' (')[0]
        stages = ', '.join(s.replace('backbone.', '') for s in row['stages'])
        params = ', '.join(f'{p / 1e6:.2f}M' for p in row['params'])
        print(f"| {backbone} | {row['model']} | {row['size']} | {stages} | "
              f"{params} | OK ({how}) | {row['seconds']:.1f} |")
