"""The recipes of configs/{ofa,kd,dkd,students} equal the official OFA-KD
ones (tests/official_recipes.yml, in timm 0.6.5's terms), setting by
setting, except the differences that table lists with their reason; the
learning rate follows timm's schedulers epoch by epoch."""
import functools
import glob
import inspect
import json
import logging
import math
import os.path as osp
import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope
from mmpretrain.registry import MODELS

from ofakd_mm.utils import resolve_model_cfg
from conftest import CONFIG_DIR, load_config

# One parsed copy of each config per session, shared with test_configs.


pytestmark = pytest.mark.usefixtures('read_metafiles_once')

TABLE = yaml.safe_load(
    open(osp.join(osp.dirname(__file__), 'official_recipes.yml')))
NAME = re.compile(
    r'^(?:(ofa|kd|dkd)_)?(.+)_(\d+)xb(\d+)-(\d+)e_(in1k|cifar100)\.py$')
CONFIGS = sorted(
    p for d in ('ofa', 'kd', 'dkd', 'students')
    for p in glob.glob(osp.join(CONFIG_DIR, d, '*.py'))
    if NAME.match(osp.basename(p)))
CNN_STUDENTS = ('resnet18', 'mobilenet-v2')
#: Parameters that are 1-D here but not in timm, which therefore decays
#: them: ResMLP's Affine scale and shift, (1, 1, C) in timm's mlp_mixer.
TIMM_MULTIDIM = ('.alpha', '.beta')
#: Input size of every run (CIFAR-100 is upsampled).
TEST_SIZE = 224


class Run(NamedTuple):
    """What a config's file name says."""
    path: str
    algo: Optional[str]  # ofa / kd / dkd, None for a student from scratch
    teacher: Optional[str]
    student: str
    gpus: int
    dataset: str

    @property
    def recipe(self) -> str:
        family = 'cnn' if self.student in CNN_STUDENTS else 'vit'
        return f'{self.dataset}_{family}'


def _run(path: str) -> Run:
    algo, models, gpus, _, _, dataset = NAME.match(
        osp.basename(path)).groups()
    student = next(s for s in TABLE['students']
                   if models == s or models.endswith('_' + s))
    teacher = models[:-len(student) - 1] if algo else None
    return Run(path, algo, teacher, student, int(gpus), dataset)


def _student_cfg(cfg: Config, run: Run) -> Dict:
    model = cfg.model.to_dict()
    return resolve_model_cfg(model['architecture']) if run.algo else model


def _default(cls_cfg: Dict, arg: str, fallback: Any) -> Any:
    """A constructor argument of a registered class, or its default."""
    if arg in cls_cfg:
        return cls_cfg[arg]
    cls = MODELS.get(cls_cfg['type'])
    param = inspect.signature(cls).parameters.get(arg)
    return fallback if param is None else param.default


# ------------------------------------------------------------ our settings
def _pipeline(loader: Dict) -> Dict[str, Dict]:
    return {t['type']: t for t in loader['dataset']['pipeline']}


def _data_settings(cfg: Config) -> Dict[str, Any]:
    train = _pipeline(cfg.train_dataloader)
    crop = train['RandomResizedCrop']
    assert crop.get('backend') == 'pillow' and crop['scale'] == TEST_SIZE
    flip = train['RandomFlip']
    assert flip['direction'] == 'horizontal'
    s = dict(
        train_crop=list(crop.get('crop_ratio_range', (0.08, 1.0))),
        train_interpolation=crop['interpolation'],
        hflip=flip['prob'],
        color_jitter=0.0 if 'ColorJitter' not in train else 'ColorJitter',
        randaugment=None,
        random_erasing=0.0)
    if 'RandAugment' in train:
        ra = train['RandAugment']
        assert (ra['policies'], ra['num_policies'], ra['total_level']) == (
            'timm_increasing', 2, 10), ra
        s['randaugment'] = (f"rand-m{ra['magnitude_level']}-"
                            f"mstd{ra['magnitude_std']}-inc1")
        s['randaugment_interpolation'] = ra['hparams']['interpolation']
    if 'RandomErasing' in train:
        erasing = train['RandomErasing']
        s['random_erasing'] = erasing['erase_prob']
        # mmpretrain's 'rand' with a fill_std: per-pixel normal noise of the
        # data's mean / std, timm's 'pixel' on normalised inputs.
        s['random_erasing_mode'] = 'pixel' if (
            erasing['mode'] == 'rand'
            and erasing.get('fill_std') is not None) else erasing['mode']
    augments = (cfg.data_preprocessor.get('batch_augments') or {}).get(
        'augments', [])
    alphas = {a['type']: a['alpha'] for a in augments}
    s['mixup'] = alphas.pop('Mixup', 0.0)
    s['cutmix'] = alphas.pop('CutMix', 0.0)
    assert alphas == {}, alphas
    if s['mixup'] and s['cutmix']:
        probs = cfg.data_preprocessor.batch_augments.get('probs')
        s['mixup_switch_prob'] = 0.5 if probs is None else probs[1]
    s['drop_last'] = cfg.train_dataloader.get('drop_last', False)
    return s


def _test_settings(cfg: Config) -> Dict[str, Any]:
    assert cfg.test_dataloader.dataset.pipeline == \
        cfg.val_dataloader.dataset.pipeline
    test = _pipeline(cfg.val_dataloader)
    resize, crop = test['ResizeEdge'], test['CenterCrop']
    assert resize['edge'] == 'short' and resize['backend'] == 'pillow'
    assert crop['crop_size'] == TEST_SIZE
    return dict(test_resize=resize['scale'],
                test_interpolation=resize['interpolation'])


def _normalisation(cfg: Config, dataset: str) -> str:
    """'official' when the student's input is normalised as train.py does
    (mean / std of the table, RGB), else the values."""
    pre = cfg.data_preprocessor
    want = TABLE['normalisation'][dataset]
    ok = all(
        abs(a - 255 * b) < 0.05 for a, b in zip(pre.mean, want['mean'])
    ) and all(abs(a - 255 * b) < 0.05 for a, b in zip(pre.std, want['std']))
    # ImageNet images load as BGR (to_rgb), CIFAR-100 ones as RGB.
    ok = ok and bool(pre.get('to_rgb', False)) == (dataset == 'in1k')
    return 'official' if ok else f'{pre.mean} / {pre.std}'


@functools.lru_cache(maxsize=None)
def _decayed_params(model_file: str, optim_json: str) -> str:
    """'weights' when the optimizer decays exactly the parameters timm's
    `filter_bias_and_bn` decays (ndim > 1, not a bias), else the ones it
    gets wrong."""
    optim_cfg = json.loads(optim_json)
    model = MODELS.build(resolve_model_cfg(dict(cfg_path=model_file)))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one line per parameter otherwise
    try:
        wrapper = build_optim_wrapper(model, optim_cfg)
    finally:
        logger.setLevel(level)
    decay = {
        id(p): group['weight_decay'] > 0
        for group in wrapper.optimizer.param_groups for p in group['params']
    }
    wrong = []
    for name, param in model.named_parameters():
        timm_ndim = 3 if name.endswith(TIMM_MULTIDIM) else param.ndim
        expected = timm_ndim > 1 and not name.endswith('.bias')
        if decay[id(param)] != expected:
            wrong.append(name)
    return 'weights' if not wrong else f'wrong for {wrong[:5]}'


def _optim_settings(cfg: Config, run: Run) -> Dict[str, Any]:
    wrapper = cfg.optim_wrapper
    opt = wrapper.optimizer
    s = dict(
        optimizer=opt.type, lr=opt.lr, weight_decay=opt.weight_decay,
        grad_clip=(wrapper.get('clip_grad') or {}).get('max_norm'))
    if opt.type == 'SGD':
        s.update(momentum=opt.momentum, nesterov=opt.get('nesterov', False))
    else:
        s.update(betas=list(opt.get('betas', (0.9, 0.999))),
                 opt_eps=opt.get('eps', 1e-8))
    model_file = f'ofakd_mm::_base_/models/{run.student}_{run.dataset}.py'
    s['weight_decay_on'] = _decayed_params(
        model_file, json.dumps(wrapper.to_dict(), sort_keys=True))
    return s


def _schedule_settings(cfg: Config) -> Dict[str, Any]:
    lr = cfg.optim_wrapper.optimizer.lr
    schedulers = {s['type']: s for s in cfg.param_scheduler}
    warmup = schedulers.pop('LinearLR')
    (kind, main), = schedulers.items()
    per_epoch = all(
        s.get('by_epoch', True) and not s.get('convert_to_iter_based')
        for s in cfg.param_scheduler)
    assert warmup.get('begin', 0) == 0 and warmup.get('end_factor', 1) == 1
    s = dict(
        # mmengine's LinearLR reaches its end factor at step end - 1.
        warmup_epochs=warmup['end'] - 1,
        warmup_lr=warmup['start_factor'] * lr,
        lr_update='epoch' if per_epoch else 'iter',
        min_lr=None)
    if kind == 'MultiStepLR':
        milestones = main['milestones']
        steps = {b - a for a, b in zip([0] + milestones, milestones)}
        s.update(schedule='step', decay_rate=main['gamma'],
                 decay_epochs=steps.pop() if len(steps) == 1 else milestones)
    else:
        # timm's cosine runs from epoch 0 over all epochs (the warm-up
        # overrides its start), not from the end of the warm-up.
        whole = (main.get('begin', 0), main.get('end')) == (
            0, cfg.train_cfg.max_epochs)
        s.update(schedule='cosine' if whole else f'{kind} {main}',
                 min_lr=main['eta_min'])
    return s


def _ema_settings(cfg: Config, run: Run) -> Dict[str, Any]:
    hooks = [h for h in cfg.get('custom_hooks', [])
             if h['type'] in ('EMAHook', 'StudentEMAHook')]
    if not hooks:
        return dict(ema=None)
    hook, = hooks
    # mmengine's momentum is the weight of the new value: 1 - timm's decay.
    s = dict(ema=round(1 - hook['momentum'], 8))
    # The official code averages the student only; a plain EMAHook on a
    # distillation algorithm would also average the teacher.
    s['ema_model'] = 'student' if (
        hook['type'] == 'StudentEMAHook' or not run.algo) else 'everything'
    return s


def _distill_settings(cfg: Config, run: Run) -> Dict[str, Any]:
    model = cfg.model
    if run.algo == 'ofa':
        d = model.distiller
        return {
            'ofa.stages': list(d.stages), 'ofa.temperature': d.temperature,
            'ofa.w_gt': model.gt_loss_weight, 'ofa.w_kd': d.kd_loss_weight,
            'ofa.w_ofa': d.ofa_loss_weight, 'ofa.eps': d.eps
        }
    losses = model.distiller.distill_losses
    if run.algo == 'kd':
        loss = losses.loss_kl
        assert loss.type == 'KLDivergence'
        return {'kd.temperature': loss.tau, 'kd.w_gt': model.gt_loss_weight,
                'kd.w_kd': loss.loss_weight}
    loss = losses.loss_dkd
    assert loss.type == 'BatchMeanDKDLoss'
    return {'dkd.alpha': loss.alpha, 'dkd.beta': loss.beta,
            'dkd.temperature': loss.tau, 'dkd.w_gt': model.gt_loss_weight,
            'dkd.w_kd': loss.loss_weight}


def _teacher_input(cfg: Config, run: Run) -> str:
    """Whose normalisation reaches the teacher."""
    setting = cfg.model.get('teacher_data_preprocessor')
    if setting == 'student':
        return 'student'
    teacher = resolve_model_cfg(cfg.model.teacher.to_dict())
    own = {k: v for k, v in (teacher.get('data_preprocessor') or {}).items()
           if k in ('mean', 'std', 'to_rgb')}
    student = {k: cfg.data_preprocessor.get(k)
               for k in ('mean', 'std', 'to_rgb')}
    if setting is None and (not own.get('mean') or own == student):
        return 'student'
    return 'teacher'


@functools.lru_cache(maxsize=None)
def ours(path: str) -> Dict[str, Any]:
    """Every compared setting of a config, in timm's terms."""
    cfg = load_config(path)
    run = _run(path)
    student = _student_cfg(cfg, run)
    s = dict(epochs=cfg.train_cfg.max_epochs,
             batch=run.gpus * cfg.train_dataloader.batch_size)
    assert cfg.auto_scale_lr.base_batch_size == s['batch']
    s.update(_data_settings(cfg))
    s.update(_test_settings(cfg))
    s.update(_optim_settings(cfg, run))
    s.update(_schedule_settings(cfg))
    s.update(_ema_settings(cfg, run))
    s['normalisation'] = _normalisation(cfg, run.dataset)
    loss = student['head']['loss']
    s['label_smoothing'] = loss['label_smooth_val'] if (
        loss['type'] == 'LabelSmoothLoss'
        and loss.get('mode') == 'original') else 0.0
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        s['drop_path'] = _default(student['backbone'], 'drop_path_rate', 0.)
    if run.algo:
        s.update(_distill_settings(cfg, run))
        s['teacher_input'] = _teacher_input(cfg, run)
    return s


# ------------------------------------------------------- official settings
def official(run: Run) -> Dict[str, Any]:
    """The official value of every setting `ours` reads."""
    recipe = dict(TABLE['recipes'][run.recipe])
    student = TABLE['students'][run.student]
    s = {k: v for k, v in recipe.items() if k in ours(run.path)}
    unread = set(recipe) - set(ours(run.path)) - {'drop_path'}
    assert not unread, f'table settings that no config reads: {unread}'
    missing = set(ours(run.path)) - set(recipe) - {
        'test_resize', 'test_interpolation', 'normalisation', 'drop_path',
        'teacher_input', 'ema_model'} - {
            k for k in ours(run.path) if '.' in k}
    assert not missing, f'settings missing in the table: {missing}'
    test = student[run.dataset]
    s['test_resize'] = math.floor(TEST_SIZE / test['crop_pct'])
    s['test_interpolation'] = test['interpolation']
    s['normalisation'] = 'official'
    s['drop_path'] = recipe.get('drop_path', student['drop_path'])
    if recipe['ema'] is not None:
        s['ema_model'] = 'student'
    if run.algo:
        s['teacher_input'] = TABLE['teacher_input']
        for key, value in TABLE['distill'][run.algo].items():
            if key == 'w_ofa':
                value = value[run.dataset]
            if key == 'eps_per_pair':
                continue
            s[f'{run.algo}.{key}'] = value
        if run.algo == 'ofa':
            pair = f'{run.teacher}_{run.student}_{run.dataset}'
            s['ofa.eps'] = TABLE['distill']['ofa']['eps_per_pair'].get(
                pair, s['ofa.eps'])
    return s


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _applies(where: str, run: Run) -> bool:
    return where in ('all', run.recipe, run.dataset, run.algo,
                     f'{run.dataset}_{run.algo}',
                     f'{run.teacher}_{run.dataset}')


def differences(path: str) -> Tuple[List[Dict], List[str]]:
    """The listed differences a config shows, and the unexplained ones."""
    run = _run(path)
    mine, theirs = ours(path), official(run)
    listed, unexplained = [], []
    for key, want in theirs.items():
        got = mine[key]
        if _same(got, want):
            continue
        entry = next(
            (d for d in TABLE['differences']
             if d['setting'] == key and _applies(d['where'], run)
             and _same(d['official'], want) and _same(d['ours'], got)), None)
        if entry is None:
            unexplained.append(f'{key}: official {want!r}, ours {got!r}')
        else:
            listed.append(entry)
    return listed, unexplained


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, CONFIG_DIR) for p in CONFIGS])
def test_recipe_equals_the_official_one(path):
    _, unexplained = differences(path)
    assert unexplained == [], (
        f'{osp.relpath(path, CONFIG_DIR)} differs from the official recipe '
        '(fix the config, or list the difference with its reason in '
        'tests/official_recipes.yml):\n  ' + '\n  '.join(unexplained))


def test_every_listed_difference_is_real():
    seen = [id(d) for p in CONFIGS for d in differences(p)[0]]
    unused = [d['setting'] + ' @ ' + d['where']
              for d in TABLE['differences'] if id(d) not in seen]
    assert unused == [], f'listed differences no config shows: {unused}'


def test_every_paper_run_is_compared():
    runs = [_run(p) for p in CONFIGS]
    assert len([r for r in runs if r.algo == 'ofa']) == 15 + 2 + 12
    assert len([r for r in runs if not r.algo]) == 11
    assert {r.recipe for r in runs} == set(TABLE['recipes'])


# ------------------------------------------------------------ lr schedules
def timm_lr(epoch: int, recipe: Dict) -> float:
    """timm 0.6.5's lr at an epoch (schedulers with t_in_epochs=True): a
    linear warm-up from warmup_lr, then the step or cosine schedule, both
    counted from epoch 0 (no warm-up prefix)."""
    base, warmup = recipe['lr'], recipe['warmup_epochs']
    if epoch < warmup:
        return recipe['warmup_lr'] + epoch * (
            base - recipe['warmup_lr']) / warmup
    if recipe['schedule'] == 'step':
        return base * recipe['decay_rate']**(epoch // recipe['decay_epochs'])
    low = recipe['min_lr']
    return low + 0.5 * (base - low) * (
        1 + math.cos(math.pi * epoch / recipe['epochs']))


@pytest.mark.parametrize('name', [
    'students/resnet18_8xb64-100e_in1k.py',
    'students/deit-t_8xb128-300e_in1k.py',
    'students/resnet18_8xb128-300e_cifar100.py',
    'students/deit-t_8xb128-300e_cifar100.py',
])
def test_lr_follows_timm_every_epoch(name):
    path = osp.join(CONFIG_DIR, name)
    cfg, recipe = load_config(path), TABLE['recipes'][_run(path).recipe]
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:  # what ParamSchedulerHook does
            scheduler.step()
    error = [abs(lr / timm_lr(e, recipe) - 1) for e, lr in enumerate(lrs)]
    warmup = recipe['warmup_epochs']
    # During the warm-up the cosine factor (>= 0.99) overlaps the linear
    # ramp, which timm applies alone; afterwards they agree.
    assert max(error[:warmup]) < 0.011
    assert max(error[warmup:]) < 2e-4
