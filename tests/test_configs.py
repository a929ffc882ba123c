"""Every config under configs/ loads, builds and trains one CPU iteration;
dumped configs hold no classifier definitions besides ``model``; every pair
of the paper has its OFA, KD, DKD, student and teacher configs. The recipe
values themselves are checked against the official ones in
test_recipe_parity.py."""
import copy
import glob
import math
import os.path as osp
import re
from typing import Any, Dict, List

import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS
from mmrazor.registry import MODELS

from ofakd_mm.utils import resolve_model_cfg
from conftest import CONFIG_DIR, load_config

pytestmark = pytest.mark.usefixtures('read_metafiles_once')

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
#: The configs of the paper's runs (ImageNet-1K, CIFAR-100), not the digits
#: quickstart's.
PAPER_CONFIGS = [
    p for p in ALL_CONFIGS if re.search(r'_(in1k|cifar100)\.py$', p)
]


def _train_size(cfg: Config) -> int:
    """The size of the config's training images (its last resize or crop),
    at most SIZE: configs are shrunk, never enlarged (the digits train at
    16 px with projectors declared for that size)."""
    size = SIZE
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] in SIZE_KEYS:
            value = t[SIZE_KEYS[t['type']]]
            size = value[0] if isinstance(value, (tuple, list)) else value
    return min(size, SIZE)


def _shrink_classifier(model: Dict, size: int = SIZE) -> None:
    """Reduce the input size of an mmpretrain classifier config in place."""
    backbone = model.get('backbone') or {}
    if 'img_size' in backbone:
        backbone['img_size'] = size
    if backbone.get('type') in ('SwinTransformer', 'SwinTransformerV2'):
        # Stages smaller than a 7x7 window are padded instead of rejected.
        backbone['pad_small_map'] = True


def _shrink_pipeline(pipeline: List[Dict], size: int = SIZE) -> List[Dict]:
    """The training pipeline at ``size``, without file loading."""
    shrunk = []
    for t in copy.deepcopy(pipeline):
        if t['type'] == 'LoadImageFromFile':
            continue
        if t['type'] in SIZE_KEYS:
            key = SIZE_KEYS[t['type']]
            t[key] = (size, size) if isinstance(t[key], (tuple, list)) \
                else size
        if t['type'] == 'RandomCrop':
            t['padding'] = min(t.get('padding') or 0, 2)
        shrunk.append(t)
    return shrunk


def _batch(cfg: Config, size: int = SIZE) -> Dict[str, list]:
    """Two samples through the config's own training pipeline."""
    pipeline = _shrink_pipeline(cfg.train_dataloader.dataset.pipeline, size)
    transforms = [TRANSFORMS.build(t) for t in pipeline]
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for label in (0, 1):
        results = dict(
            img=rng.integers(0, 256, (size + 8, size + 4, 3), np.uint8),
            gt_label=label)
        results['img_shape'] = results['ori_shape'] = \
            results['img'].shape[:2]
        for t in transforms:
            results = t(results)
        inputs.append(results['inputs'])
        samples.append(results['data_samples'])
    assert all(tuple(x.shape) == (3, size, size) for x in inputs)
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
    cfg = copy.deepcopy(load_config(path))
    _check_name(path, cfg)
    model_cfg = cfg.model.to_dict()
    # What mmengine's Runner does with a top-level data_preprocessor.
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             cfg.data_preprocessor.to_dict())
    distill = model_cfg['type'] in DISTILL_TYPES
    size = _train_size(cfg)
    if distill:
        for key in ('architecture', 'teacher'):
            model_cfg[key] = resolve_model_cfg(model_cfg[key])
        model_cfg['teacher_ckpt'] = None
        if model_cfg['type'] == 'OFAKDDistill':
            model_cfg['input_size'] = size
        _shrink_classifier(model_cfg['architecture'], size)
        _shrink_classifier(model_cfg['teacher'], size)
    else:
        _shrink_classifier(model_cfg, size)

    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        data = _batch(cfg, size)
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


# ------------------------------------------------------------------ library
def _cfg(name: str) -> Config:
    return copy.deepcopy(load_config(osp.join(CONFIG_DIR, name)))


def _is_classifier(value: Any) -> bool:
    return isinstance(value, dict) and (
        'backbone' in value or value.get('type') == 'ImageClassifier')


@pytest.mark.parametrize(
    'path', PAPER_CONFIGS,
    ids=[osp.relpath(p, CONFIG_DIR) for p in PAPER_CONFIGS])
def test_config_defines_one_model(path):
    """No classifier definition leaks into a config (and so into the dumped
    config of its runs and their checkpoints' meta) besides `model`."""
    cfg = load_config(path)
    leaked = [k for k, v in cfg.items() if k != 'model' and _is_classifier(v)]
    assert leaked == [], f'{path}: top-level classifier dicts {leaked}'
    if cfg.model.get('type') in DISTILL_TYPES:
        for key in ('architecture', 'teacher'):
            assert set(cfg.model[key]) == {'cfg_path'}, (
                f'{path}: model.{key} should be a cfg_path reference')


@pytest.mark.parametrize('name', [
    'ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py',
    'ofa/ofa_mixer-b16_swin-p_8xb128-300e_cifar100.py',
])
def test_dumped_ofa_config_holds_only_model_data_schedule_runtime(
        name, tmp_path):
    path = str(tmp_path / 'dumped.py')
    _cfg(name).dump(path)
    dumped = Config.fromfile(path)
    # `model` (the algorithm) is the only place classifiers are named, by
    # reference.
    assert [k for k, v in dumped.items() if _is_classifier(v)] == []
    assert dumped.model.type == 'OFAKDDistill'
    text = dumped.pretty_text
    assert "cfg_path='ofakd_mm::_base_/models/" in text
    assert 'ImageClassifier' not in text
    # The dumped config still builds the same distillation run.
    student = resolve_model_cfg(dumped.model.architecture)
    teacher = resolve_model_cfg(dumped.model.teacher)
    assert student['type'] == teacher['type'] == 'ImageClassifier'


def test_cifar100_configs_never_download_and_use_cifar_statistics():
    cfg = _cfg('ofa/ofa_swin-t_resnet18_8xb128-300e_cifar100.py')
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        assert loader.dataset.type == 'CIFAR100'
        assert loader.dataset.download is False
        assert loader.dataset.data_root == cfg.data_root
    assert cfg.data_preprocessor.mean == [129.304, 124.070, 112.434]
    for key in ('architecture', 'teacher'):
        assert resolve_model_cfg(cfg.model[key])['head']['num_classes'] == 100


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
        cfg = load_config(path)
        teacher = osp.basename(cfg.teacher_ckpt)[:-len('.pth')]
        assert teacher_student.startswith(teacher.rsplit('_', 1)[0] + '_')
        assert osp.isfile(osp.join(CONFIG_DIR, 'teachers', teacher + '.py'))
        student = teacher_student[len(teacher.rsplit('_', 1)[0]) + 1:]
        gpus, batch, epochs = recipe
        assert osp.isfile(osp.join(
            CONFIG_DIR, 'students',
            f'{student}_{gpus}xb{batch}-{epochs}e_{dataset}.py'))


def test_model_zoo_lists_every_paper_config():
    """configs/ofa/metafile.yml (the model index) has one entry per OFA
    config of the paper, with existing config and teacher config files."""
    with open(osp.join(CONFIG_DIR, 'ofa', 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    repo = osp.dirname(CONFIG_DIR)
    listed = {m['Config'] for m in models}
    paper = {
        osp.relpath(p, repo) for p in PAPER_CONFIGS
        if osp.basename(p).startswith('ofa_')
    }
    assert listed == paper
    for model in models:
        assert model['Name'] == osp.basename(model['Config'])[:-len('.py')]
        assert osp.isfile(osp.join(repo, model['Metadata']['Teacher Config']))


def test_every_config_saves_checkpoints_atomically():
    """A run killed while saving must not lose its checkpoints: every config
    writes them with AtomicCheckpointHook."""
    plain = [
        osp.relpath(p, CONFIG_DIR) for p in ALL_CONFIGS
        if load_config(p).default_hooks.checkpoint.type !=
        'AtomicCheckpointHook'
    ]
    assert plain == []
