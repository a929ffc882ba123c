"""Every config under configs/ loads, builds and trains one CPU iteration;
the paper's recipes (spec section 8) are what the configs say."""
import copy
import functools
import glob
import math
import os.path as osp
import re
from typing import Any, Dict, List

import mmengine.config.utils as mmengine_cfg_utils
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS
from mmrazor.registry import MODELS

from conftest import CONFIG_DIR

#: Image size of the one training iteration (the paper's is 224).
SIZE = 32
#: Transforms whose output size is shrunk to SIZE, and the key holding it.
SIZE_KEYS = {
    'RandomResizedCrop': 'scale', 'Resize': 'scale', 'ResizeEdge': 'scale',
    'CenterCrop': 'crop_size', 'RandomCrop': 'crop_size',
}
DISTILL_TYPES = ('OFAKDDistill', 'FrozenTeacherDistill')
#: `[<algo>_]<models>_<G>xb<N>-<E>e_<dataset>.py`
NAME = re.compile(r'(?:(ofa|kd|dkd)_)?(.+)_(\d+)xb(\d+)-(\d+)e_(\w+)\.py$')


def _pair_key(path: str) -> tuple:
    """Order configs so that those with the same teacher (the OFA, KD and
    DKD configs of all its students on one dataset) follow each other: they
    share the built teacher, see `_teacher`."""
    name = osp.basename(path)
    match = NAME.search(name)
    dataset = match.group(6) if match else ''
    return (dataset, re.sub(r'^(ofa|kd|dkd)_', '', name), path)


ALL_CONFIGS = sorted(
    (p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
     if '_base_' not in osp.relpath(p, CONFIG_DIR).split(osp.sep)),
    key=_pair_key)


@pytest.fixture(scope='module', autouse=True)
def _read_metafiles_once():
    """Each `mmpretrain::` base makes mmengine parse all ~170 metafiles of
    mmpretrain (about 0.5 s); they do not change during the session."""
    load = mmengine_cfg_utils.load
    cached = functools.lru_cache(maxsize=None)(load)

    def load_metafile(file, *args, **kwargs):
        if isinstance(file, str) and file.endswith('.yml') and not (
                args or kwargs):
            return cached(file)
        return load(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mmengine_cfg_utils, 'load', load_metafile)
        yield


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Config:
    """A parsed config; callers copy it before changing it."""
    return Config.fromfile(path)


def _shrink_classifier(model: Dict) -> None:
    """Reduce the input size of an mmpretrain classifier config in place."""
    backbone = model.get('backbone') or {}
    if 'img_size' in backbone:
        backbone['img_size'] = SIZE
    if backbone.get('type') in ('SwinTransformer', 'SwinTransformerV2'):
        # Stages smaller than a 7x7 window are padded instead of rejected.
        backbone['pad_small_map'] = True


def _shrink_pipeline(pipeline: List[Dict]) -> List[Dict]:
    """The training pipeline at SIZE, without file loading."""
    shrunk = []
    for t in copy.deepcopy(pipeline):
        if t['type'] == 'LoadImageFromFile':
            continue
        if t['type'] in SIZE_KEYS:
            key = SIZE_KEYS[t['type']]
            t[key] = (SIZE, SIZE) if isinstance(t[key], (tuple, list)) \
                else SIZE
        if t['type'] == 'RandomCrop':
            t['padding'] = min(t.get('padding') or 0, 2)
        shrunk.append(t)
    return shrunk


def _batch(cfg: Config) -> Dict[str, list]:
    """Two samples through the config's own training pipeline."""
    pipeline = _shrink_pipeline(cfg.train_dataloader.dataset.pipeline)
    transforms = [TRANSFORMS.build(t) for t in pipeline]
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for label in (0, 1):
        results = dict(
            img=rng.integers(0, 256, (SIZE + 8, SIZE + 4, 3), np.uint8),
            gt_label=label)
        results['img_shape'] = results['ori_shape'] = \
            results['img'].shape[:2]
        for t in transforms:
            results = t(results)
        inputs.append(results['inputs'])
        samples.append(results['data_samples'])
    assert all(tuple(x.shape) == (3, SIZE, SIZE) for x in inputs)
    return dict(inputs=inputs, data_samples=samples)


_TEACHERS: Dict[str, torch.nn.Module] = {}


def _teacher(teacher_cfg: Dict) -> torch.nn.Module:
    """The frozen teacher of a config, built once for consecutive configs
    with the same teacher config (OFA, KD and DKD of a pair): a frozen
    teacher is never changed by training, so reusing it is the same as
    building it again."""
    key = repr(teacher_cfg)
    if key not in _TEACHERS:
        _TEACHERS.clear()
        _TEACHERS[key] = MODELS.build(teacher_cfg)
    teacher = _TEACHERS[key]
    for module in teacher.modules():  # recorders of the previous config
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
    return teacher


def _check_name(path: str, cfg: Config) -> None:
    """`..._<G>xb<N>-<E>e_<data>.py` must say the config's batch, epochs."""
    match = NAME.search(osp.basename(path))
    if match is None:
        return
    _, _, _, batch, epochs, _ = match.groups()
    assert cfg.train_dataloader.batch_size == int(batch)
    assert cfg.train_cfg.max_epochs == int(epochs)


@pytest.mark.parametrize(
    'path', ALL_CONFIGS, ids=[osp.relpath(p, CONFIG_DIR) for p in ALL_CONFIGS])
def test_config_trains_one_iteration(path):
    cfg = copy.deepcopy(_load(path))
    _check_name(path, cfg)
    model_cfg = cfg.model.to_dict()
    # What mmengine's Runner does with a top-level data_preprocessor.
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             cfg.data_preprocessor.to_dict())
    distill = model_cfg['type'] in DISTILL_TYPES
    if distill:
        model_cfg['teacher_ckpt'] = None
        if model_cfg['type'] == 'OFAKDDistill':
            model_cfg['input_size'] = SIZE
        _shrink_classifier(model_cfg['architecture'])
        _shrink_classifier(model_cfg['teacher'])
    else:
        _shrink_classifier(model_cfg)

    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        data = _batch(cfg)
        if distill:
            model_cfg['teacher'] = _teacher(model_cfg['teacher'])
        model = MODELS.build(model_cfg)
        model.train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        log_vars = model.train_step(data, optim_wrapper)

    assert 'loss' in log_vars
    for name, value in log_vars.items():
        assert math.isfinite(float(value.detach())), f'{name} = {value}'
    if distill:
        assert any(k.startswith('distill.loss') for k in log_vars), log_vars


# ----------------------------------------------------------------- recipes
def _cfg(name: str) -> Config:
    return copy.deepcopy(_load(osp.join(CONFIG_DIR, name)))


def _train_transforms(cfg: Config) -> Dict[str, Dict]:
    return {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}


def _batch_augments(cfg: Config) -> Dict[str, float]:
    augments = (cfg.data_preprocessor.get('batch_augments') or {}).get(
        'augments', [])
    return {a['type']: a['alpha'] for a in augments}


def _schedulers(cfg: Config) -> Dict[str, Dict[str, Any]]:
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    return {s['type']: s for s in schedulers}


#: Spec section 8, one config of each recipe.
RECIPES = {
    'ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py': dict(
        epochs=100, optimizer='SGD', lr=0.1, weight_decay=1e-4,
        global_batch=512, warmup=3, main='MultiStepLR', randaug=False,
        erasing=None, mixup=None, ema=None, clip=None),
    'ofa/ofa_resnet50_deit-t_8xb128-300e_in1k.py': dict(
        epochs=300, optimizer='AdamW', lr=5e-4, weight_decay=0.05,
        global_batch=1024, warmup=20, main='CosineAnnealingLR', eta_min=1e-6,
        randaug=True, erasing=0.25, mixup=(0.8, 1.0), ema=0.99996, clip=5.0),
    'ofa/ofa_swin-t_resnet18_8xb128-300e_cifar100.py': dict(
        epochs=300, optimizer='SGD', lr=0.05, weight_decay=2e-3,
        global_batch=1024, warmup=3, main='CosineAnnealingLR', eta_min=1e-3,
        randaug=False, erasing=None, mixup=None, ema=None, clip=None),
    'ofa/ofa_convnext-t_deit-t_8xb128-300e_cifar100.py': dict(
        epochs=300, optimizer='AdamW', lr=5e-4, weight_decay=0.05,
        global_batch=1024, warmup=20, main='CosineAnnealingLR', eta_min=1e-5,
        randaug=True, erasing=0.25, mixup=(0.8, 1.0), ema=None, clip=5.0),
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_matches_paper(name):
    want = RECIPES[name]
    cfg = _cfg(name)
    gpus = int(re.search(r'_(\d+)xb(\d+)-', name).group(1))
    assert gpus * cfg.train_dataloader.batch_size == want['global_batch']
    assert cfg.auto_scale_lr.base_batch_size == want['global_batch']
    assert cfg.train_cfg.max_epochs == want['epochs']

    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == want['optimizer']
    assert optimizer.lr == pytest.approx(want['lr'])
    assert optimizer.weight_decay == pytest.approx(want['weight_decay'])
    if want['optimizer'] == 'SGD':
        assert optimizer.momentum == 0.9

    schedulers = _schedulers(cfg)
    warmup = schedulers.pop('LinearLR')
    assert (warmup.get('begin', 0), warmup['end']) == (0, want['warmup'])
    assert set(schedulers) == {want['main']}
    main = schedulers[want['main']]
    if want['main'] == 'MultiStepLR':
        assert main['milestones'] == [30, 60, 90] and main['gamma'] == 0.1
    else:
        assert main['begin'] == want['warmup']
        assert main.get('end', want['epochs']) == want['epochs']
        if want['eta_min'] is not None:
            assert main['eta_min'] == pytest.approx(want['eta_min'])

    loss = cfg.model.architecture.head.loss
    assert (loss.type, loss.label_smooth_val) == ('LabelSmoothLoss', 0.1)

    transforms = _train_transforms(cfg)
    assert ('RandAugment' in transforms) == want['randaug']
    if want['randaug']:
        randaug = transforms['RandAugment']
        assert (randaug.magnitude_level, randaug.num_policies,
                randaug.magnitude_std) == (9, 2, 0.5)
    erasing = transforms.get('RandomErasing')
    assert (erasing and erasing.erase_prob) == want['erasing'] or (
        erasing is None and want['erasing'] is None)
    augments = _batch_augments(cfg)
    if want['mixup'] is None:
        assert augments == {}
    else:
        assert augments == {'Mixup': want['mixup'][0],
                            'CutMix': want['mixup'][1]}
    ema = [h for h in cfg.get('custom_hooks', []) if h.type == 'EMAHook']
    if want['ema'] is None:
        assert ema == []
    else:
        assert ema[0].momentum == pytest.approx(1 - want['ema'])
    clip = cfg.optim_wrapper.get('clip_grad')
    assert (clip and clip.max_norm) == want['clip'] or (
        clip is None and want['clip'] is None)

    # Every pipeline ends at 224 px (CIFAR-100 is upsampled).
    assert transforms['RandomResizedCrop'].scale == 224
    assert cfg.model.input_size == 224


def test_cifar100_configs_never_download_and_use_cifar_statistics():
    cfg = _cfg('ofa/ofa_swin-t_resnet18_8xb128-300e_cifar100.py')
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        assert loader.dataset.type == 'CIFAR100'
        assert loader.dataset.download is False
        assert loader.dataset.data_root == cfg.data_root
    assert cfg.data_preprocessor.mean == [129.304, 124.070, 112.434]
    assert cfg.model.architecture.head.num_classes == 100
    assert cfg.model.teacher.head.num_classes == 100


@pytest.mark.parametrize('name,eps,w_ofa', [
    ('ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py', 1.5, 1.0),
    ('ofa/ofa_swin-t_resnet18_8xb128-300e_cifar100.py', 1.0, 0.1),
    ('ofa/ofa_mixer-b16_swin-n_8xb128-300e_in1k.py', 1.0, 1.0),
])
def test_ofa_hyperparameters(name, eps, w_ofa):
    distiller = _cfg(name).model.distiller
    assert distiller.eps == eps
    assert distiller.ofa_loss_weight == w_ofa
    assert (distiller.stages, distiller.temperature,
            distiller.kd_loss_weight) == ((1, 2, 3, 4), 1.0, 1.0)


def test_every_pair_has_ofa_kd_dkd_student_and_teacher_configs():
    ofa = glob.glob(osp.join(CONFIG_DIR, 'ofa', 'ofa_*_in1k.py')) + \
        glob.glob(osp.join(CONFIG_DIR, 'ofa', 'ofa_*_cifar100.py'))
    assert len(ofa) == 15 + 2 + 12
    for path in ofa:
        match = NAME.search(osp.basename(path))
        stem = osp.basename(path)[len('ofa_'):]
        teacher_student, recipe = match.group(2), match.groups()[2:5]
        dataset = match.group(6)
        for algo in ('kd', 'dkd'):
            assert osp.isfile(osp.join(CONFIG_DIR, algo, f'{algo}_{stem}'))
        cfg = _load(path)
        teacher = osp.basename(cfg.teacher_ckpt)[:-len('.pth')]
        assert teacher_student.startswith(teacher.rsplit('_', 1)[0] + '_')
        assert osp.isfile(osp.join(CONFIG_DIR, 'teachers', teacher + '.py'))
        student = teacher_student[len(teacher.rsplit('_', 1)[0]) + 1:]
        gpus, batch, epochs = recipe
        assert osp.isfile(osp.join(
            CONFIG_DIR, 'students',
            f'{student}_{gpus}xb{batch}-{epochs}e_{dataset}.py'))
