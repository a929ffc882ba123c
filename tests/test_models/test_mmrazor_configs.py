"""MMRazor's own classification distillation configs, every file under its
installed ``.mim/configs/distill/mmcls``, as a user names them
(``mmrazor::distill/mmcls/<file>``, with ``custom_imports`` of ofakd_mm):
each loads as shipped, and, with teacher weights and download-only entries
dropped, builds and takes one training step (finite losses, changed
parameters) in a real mmengine Runner, in a single process.

The step shrinks the inputs: digits images (``DigitsDataset``, nothing
downloaded) through the config's own train pipeline at 16 px (file loading
dropped, crop sizes 16), batch 4; losses, optimizers and schedulers are the
shipped ones, and so are the models but for DeiT's, two of the largest of
their families, and DFAD's and ZSKT's student steps per iteration
(:data:`SMALLER`).

``python tests/test_models/test_mmrazor_configs.py`` runs every config and
prints the README's table of MMRazor's classification distillation
algorithms.
"""
import ast
import copy
import math
import os
import os.path as osp
import sys
from typing import Any, Dict, List

import mmrazor
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import ofakd_mm  # noqa: F401  (compatibility layer, before any mmrazor)

#: Where mmrazor's wheel ships its configs.
MMRAZOR_CONFIGS = osp.join(osp.dirname(mmrazor.__file__), '.mim', 'configs')
DISTILL_DIR = osp.join(MMRAZOR_CONFIGS, 'distill', 'mmcls')
#: Input size and batch size of the step (RKD's angles need 3 samples).
SIZE, BATCH = 16, 4
#: Configs whose models need larger inputs: BYOT's connectors end in a 4x4
#: average pooling of a map that is 1/8 of the input.
INPUT_SIZE = {'distill/mmcls/byot/byot_resnet18_8xb16_cifar100.py': 32}
#: Where a shipped config is costly beyond its inputs, the step shrinks it
#: further (the algorithm, its recorders and losses are unchanged): the
#: DeiT config's DeiT-B student (86 M parameters) and RegNetY-16GF teacher
#: (84 M) become DeiT-T and RegNetY-200MF; DFAD and ZSKT train the student
#: once per iteration instead of 5 and 10 times.
SMALLER = {
    'distill/mmcls/deit/deit-base_regnety160_pt-16xb64_in1k.py': {
        'model.architecture.backbone.arch': 'deit-tiny',
        'model.architecture.head.in_channels': 192,
        'model.teacher.backbone.model_name': 'regnety_002',
        'model.teacher.head.in_channels': 368,
    },
    'distill/mmcls/dfad/dfad_logits_resnet34_resnet18_8xb32_cifar10.py': {
        'model.student_iter': 1
    },
    'distill/mmcls/zskt/zskt_backbone_logits_resnet34_resnet18_8xb16_cifar10.py':  # noqa: E501
    {
        'model.student_iter': 1
    },
}


def shipped_configs() -> List[str]:
    """Every config file under the installed ``distill/mmcls``, relative to
    mmrazor's config root."""
    import glob
    files = glob.glob(osp.join(DISTILL_DIR, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(f, MMRAZOR_CONFIGS) for f in files)


def load_as_user(rel: str, work_dir: str) -> Config:
    """The config a user writes to run ``rel`` of mmrazor's configs."""
    path = osp.join(work_dir, 'user_config.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = ['mmrazor::{rel}']\n"
                "custom_imports = dict(imports=['ofakd_mm'], "
                'allow_failed_imports=False)\n')
    return Config.fromfile(path)


def drop_downloads(node: Any, path: str = '') -> List[str]:
    """Remove teacher weights and download-only entries in place:
    ``teacher_ckpt`` and ``ckpt_path`` (files or URLs of weights),
    ``pretrained=True`` (weights of a model-zoo entry or of timm) and
    ``init_cfg=dict(type='Pretrained')``. Returns the dotted keys."""
    dropped = []
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key in ('teacher_ckpt', 'ckpt_path') or (
                    key == 'init_cfg' and isinstance(value, dict)
                    and value.get('type') == 'Pretrained'):
                del node[key]
            elif key == 'pretrained' and value is True:
                node[key] = False
            else:
                dropped += drop_downloads(value, f'{path}{key}.')
                continue
            dropped.append(f'{path}{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            dropped += drop_downloads(value, f'{path}{i}.')
    return dropped


def shrink_inputs(cfg: Config, work_dir: str, size: int = SIZE) -> bool:
    """Batches of four 16 px digits (eight of each class: an epoch of 20
    iterations, long enough for the shipped schedules; CRD's sampler needs
    every class equally often) through the config's own train pipeline (file
    loading dropped, crop sizes 16) in one process; no validation nor
    checkpoint.

    Returns:
        bool: Whether the dataset had to leave the ``mmrazor`` scope: a
        dataset file of MMRazor's own ``_base_`` (BYOT's) inherits
        ``_scope_='mmrazor'`` from the ``mmrazor::`` base that includes it,
        and mmrazor registers no dataset nor transform of mmpretrain.
    """
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:  # CRDDataset and other wrappers
        dataset = dataset.dataset
    pipeline = [dict(type='Resize', scale=(size, size))]
    for transform in dataset.pipeline:
        if transform['type'].endswith('LoadImageFromFile'):
            continue
        transform = copy.deepcopy(transform)
        for key in ('scale', 'crop_size'):
            if key in transform:
                transform[key] = size
        pipeline.append(transform)
    keep = {k: dataset[k] for k in ('_scope_', 'test_mode') if k in dataset}
    rescoped = keep.get('_scope_') == 'mmrazor'
    if rescoped:
        keep['_scope_'] = 'mmpretrain'
    dataset.clear()
    dataset.update(
        type='mmpretrain.DigitsDataset',
        split='train',
        per_class=8,
        pipeline=pipeline,
        serialize_data=False,
        **keep)
    cfg.train_dataloader.update(
        batch_size=BATCH, num_workers=0, persistent_workers=False)
    if 'generator' in cfg.model:  # data-free: the images it generates
        cfg.model.generator.img_size = size
    for key in ('val', 'test'):
        for part in ('dataloader', 'evaluator', 'cfg'):
            cfg[f'{key}_{part}'] = None
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    return rescoped


def zero_weight_losses(node: Any) -> List[str]:
    """Names of the distillation losses configured with ``loss_weight=0``
    (BYOT's third feature loss): their value is 0 by design."""
    names = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'distill_losses':
                names += [name for name, loss in value.items()
                          if loss.get('loss_weight', 1) == 0]
            else:
                names += zero_weight_losses(value)
    return names


class FirstStepDone(Exception):
    """Raised by :class:`FirstStep` to end the run after one iteration."""


class FirstStep(Hook):
    """Records the first training iteration (its log variables, and which
    trainable parameters it changed), then ends the run.

    A parameter's float64 sum stands for it (an optimizer step changes it;
    a NaN or inf shows in it): no copy of the models."""

    priority = 'LOWEST'

    @staticmethod
    def _sums(runner) -> Dict[str, float]:
        return {
            name: torch.sum(p.detach(), dtype=torch.float64).item()
            for name, p in runner.model.named_parameters() if p.requires_grad
        }

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.before = self._sums(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.outputs = {k: float(v) for k, v in outputs.items()}
        after = self._sums(runner)
        self.changed = sorted(name for name, value in after.items()
                              if value != self.before[name])
        self.finite_params = all(
            math.isfinite(after[name]) for name in self.changed)
        raise FirstStepDone


def one_step(rel: str, work_dir: str) -> Dict[str, Any]:
    """Load ``rel`` as a user does, drop downloads, shrink the inputs and
    train one iteration; what it did."""
    cfg = load_as_user(rel, work_dir)
    dropped = drop_downloads(cfg._cfg_dict)
    cfg.merge_from_dict(SMALLER.get(rel, {}))
    rescoped = shrink_inputs(cfg, work_dir, INPUT_SIZE.get(rel, SIZE))
    runner = Runner.from_cfg(cfg)
    hook = FirstStep()
    runner.register_hook(hook)
    with pytest.raises(FirstStepDone):
        runner.train()
    groups = sorted({name.split('.')[0] for name in hook.changed})
    return dict(
        algorithm=cfg.model.type,
        losses=sorted(k for k in hook.outputs if 'loss' in k and k != 'loss'),
        outputs=hook.outputs,
        changed=hook.changed,
        groups=groups,
        finite_params=hook.finite_params,
        dropped=dropped,
        dataset_rescoped=rescoped,
        student_trainable=cfg.model.get('student_trainable', True),
        zero_weight=zero_weight_losses(cfg.model))


def defines_model(rel: str) -> bool:
    """Whether the file assigns ``model`` (a training config), rather than
    being a dataset file that configs use as a base."""
    with open(osp.join(MMRAZOR_CONFIGS, rel)) as f:
        tree = ast.parse(f.read())
    return any(
        isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == 'model' for t in node.targets)
        for node in tree.body)


CONFIGS = shipped_configs()
TRAINING_CONFIGS = [rel for rel in CONFIGS if defines_model(rel)]


@pytest.mark.parametrize('rel', CONFIGS)
def test_config_loads_as_shipped(rel, tmp_path, read_metafiles_once):
    cfg = load_as_user(rel, str(tmp_path))
    if 'model' in cfg:
        from mmrazor.registry import MODELS
        assert MODELS.get(cfg.model.type) is not None, cfg.model.type
        # bases came from mmpretrain's configs, named as mmcls's
        assert cfg.train_dataloader.dataset is not None
    else:
        # a dataset file: its pipeline builds (mmcls's PackClsInputs) and
        # packs a CIFAR image
        from mmengine.dataset import Compose
        pipeline = Compose(
            [dict(t, _scope_='mmpretrain') for t in cfg.train_pipeline])
        out = pipeline(dict(img=np.zeros((32, 32, 3), np.uint8), gt_label=3))
        assert out['inputs'].shape == (3, 32, 32)
        assert int(out['data_samples'].gt_label) == 3


def test_every_shipped_config_is_covered():
    # the tests iterate the installed directory: nothing is left out
    assert CONFIGS and all(rel.startswith('distill/mmcls/') for rel in CONFIGS)
    assert len(CONFIGS) == len(set(CONFIGS))


@pytest.fixture
def unformatted_config_logs(monkeypatch):
    """The Runner logs and dumps its config as ``pretty_text``, which yapf
    formats (1-6 s per MMRazor config on the 2-core CI machine); these tests
    read neither, so the config's own text stands in for it."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))


@pytest.mark.parametrize('rel', TRAINING_CONFIGS)
def test_config_trains_one_step(rel, tmp_path, read_metafiles_once,
                                unformatted_config_logs):
    step = one_step(rel, str(tmp_path))
    assert step['losses'], step['outputs']
    for name, value in step['outputs'].items():
        assert math.isfinite(value), (name, value)
        if name.split('.')[-1] not in step['zero_weight']:
            assert value != 0, (name, step['outputs'])
    assert step['changed'] and step['finite_params']
    if step['student_trainable']:
        assert 'architecture' in step['groups'], step['groups']
    if 'DataFree' in step['algorithm']:
        assert 'generator' in step['groups'], step['groups']


DAFL_UNDER_DDP = '''
_base_ = ['mmrazor::{rel}']
custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)
model = dict(
    teachers=dict(res34=dict(_delete_=True, build_cfg=dict(
        cfg_path='mmcls::resnet/resnet34_8xb16_cifar10.py',
        pretrained=False))),
    generator=dict(img_size={size}))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='mmpretrain.DigitsDataset',
                 per_class=1, pipeline=[dict(type='PackInputs')]))
# two iterations: constant learning rates instead of the 30000-iteration
# schedules
train_cfg = dict(max_iters=2)
param_scheduler = dict(
    _delete_=True,
    architecture=dict(type='ConstantLR', factor=1.0, by_epoch=False),
    generator=dict(type='ConstantLR', factor=1.0, by_epoch=False))
val_dataloader = val_evaluator = val_cfg = None
test_dataloader = test_evaluator = test_cfg = None
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''


@pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.device_count() < 2,
    reason='2 processes need 2 GPUs on a CUDA host (nccl)')
def test_datafree_trains_under_dist_train(tmp_path):
    """DAFL as shipped (``MMSeparateDistributedDataParallel``) under
    ``tools/dist_train.sh`` with 2 processes: the generator is reached
    through its DDP wrapper there, through its own ``module`` in one
    process (test_config_trains_one_step); the checkpoints are the same."""
    import glob
    import subprocess

    from conftest import REPO_ROOT
    rel = 'distill/mmcls/dafl/dafl_logits_resnet34_resnet18_8xb256_cifar10.py'
    config = tmp_path / 'dafl_ddp.py'
    config.write_text(DAFL_UNDER_DDP.format(rel=rel, size=SIZE))
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT='29541')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
         str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(glob.glob(str(tmp_path / '*' / '*.log'))[0]).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'Iter(train) [2/2]' in log
    for loss in ('generator.loss_res34_oh', 'distill.loss_kl'):
        assert loss in log, loss
    state = torch.load(str(tmp_path / 'iter_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert any(k.startswith('generator.') for k in state)
    assert not any(k.startswith('module.') for k in state)


#: How the table names what a step trained (top-level modules).
TRAINED = {'architecture': 'student', 'distiller': 'connectors',
           'generator': 'generator'}


def table() -> str:
    """The README's table: every shipped config, loaded and stepped."""
    import tempfile
    rows = [
        '| config (`distill/mmcls/...`) | MMRazor algorithm | losses of the '
        'step | trained | as shipped, except |', '|---|---|---|---|---|'
    ]
    for rel in CONFIGS:
        short = rel[len('distill/mmcls/'):]
        with tempfile.TemporaryDirectory() as work_dir:
            if not defines_model(rel):
                load_as_user(rel, work_dir)
                rows.append(f'| `{short}` | (a dataset file: loads) | | | |')
                continue
            step = one_step(rel, work_dir)
        losses = ', '.join(  # without the sums of data-free's two steps
            f'`{k}`' for k in step['losses']
            if k not in ('distill.loss', 'generator.loss'))
        dropped = sorted({
            k[len('model.'):]
            for k in step['dropped'] if k.startswith('model.')
        })
        changes = ['no ' + ', '.join(f'`{k}`' for k in dropped)
                   ] if dropped else []
        changes += [f'`{k[len("model."):]}={v!r}`'
                    for k, v in SMALLER.get(rel, {}).items()]
        if step['dataset_rescoped']:
            changes.append("`train_dataloader.dataset._scope_='mmpretrain'`")
        if INPUT_SIZE.get(rel, SIZE) != SIZE:
            changes.append(f'{INPUT_SIZE[rel]} px')
        trained = ', '.join(TRAINED[g] for g in step['groups'])
        rows.append(f'| `{short}` | `{step["algorithm"]}` | {losses} | '
                    f'{trained} | {"; ".join(changes) or "-"} |')
    return '\n'.join(rows)


if __name__ == '__main__':
    print(table())
