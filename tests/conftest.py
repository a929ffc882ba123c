"""Helpers shared by the tests: configs shrunk to a few CPU iterations, a
real (briefly trained) digits teacher checkpoint, and configs parsed once."""
import contextlib
import functools
import logging
import os
import os.path as osp
import runpy
import sys
import warnings
from typing import Any, Dict, Iterator, List, Union

import mmengine.config.utils as mmengine_cfg_utils
import pytest
from mmengine.config import Config

import ofakd_mm  # noqa: F401  (compatibility layer, before any mmrazor)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
#: The digits setup (tools/quickstart.py): 16 px, 10 classes.
DIGITS_DIR = osp.join(CONFIG_DIR, 'quickstart')
TEACHER_CFG = osp.join(DIGITS_DIR, 'resnet18-w16_1xb64-20e_digits.py')
OFA_DIGITS_CFG = osp.join(
    DIGITS_DIR, 'ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
KD_DIGITS_CFG = osp.join(
    DIGITS_DIR, 'kd_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')

warnings.filterwarnings('ignore', category=UserWarning, module='mmcv')
os.environ.setdefault('OMP_NUM_THREADS', '2')


def small_config(path: str, work_dir: str, samples: int = 32,
                 batch_size: int = 16, epochs: int = 2,
                 **cfg_options: Any) -> Config:
    """Load a digits config and shrink it to ``samples`` training images,
    ``epochs`` epochs (a checkpoint and a validation every epoch).

    Args:
        path (str): Config file.
        work_dir (str): Work dir of the run.
        samples (int): Images kept in the train and val sets.
        batch_size (int): Training batch size.
        epochs (int): Number of epochs.
        **cfg_options: Extra ``merge_from_dict`` overrides (dotted keys).

    Returns:
        Config: ready for ``Runner.from_cfg``.
    """
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    options: Dict[str, Any] = {
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.dataset.indices': samples,
        'val_dataloader.dataset.indices': samples,
        'test_dataloader.dataset.indices': samples,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': -1,
        'default_hooks.logger.interval': 1,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0)],
        'log_level': 'WARNING',
    }
    options.update(cfg_options)
    cfg.merge_from_dict(options)
    return cfg


@pytest.fixture(scope='session')
def digits_teacher_ckpt(tmp_path_factory) -> str:
    """A full mmengine checkpoint of the digits CNN teacher, written by a
    real Runner after one short epoch."""
    from mmengine.runner import Runner
    work_dir = str(tmp_path_factory.mktemp('teacher'))
    cfg = small_config(TEACHER_CFG, work_dir, epochs=1)
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='module')
def read_metafiles_once():
    """Each `mmpretrain::` base makes mmengine parse all ~170 metafiles of
    mmpretrain (about 0.5 s); they do not change during a test module."""
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
def load_config(path: str) -> Config:
    """A parsed config, shared by the tests; copy it before changing it."""
    return Config.fromfile(path)


def run_main(script: str, *args: str) -> Union[int, str, None]:
    """Run a tool's ``__main__`` in this process (no interpreter start-up
    nor re-import of ofakd_mm); returns its ``SystemExit`` code (None if it
    returned normally; a message string means exit status 1)."""
    argv = sys.argv
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = argv
    return None


@contextlib.contextmanager
def log_lines(logger: logging.Logger,
              level: int = logging.INFO) -> Iterator[List[str]]:
    """The messages ``logger`` emits at ``level`` or above inside the
    block, as a list filled while it runs."""
    lines: List[str] = []
    handler = logging.Handler(level)
    handler.emit = lambda record: lines.append(record.getMessage())
    previous = logger.level
    logger.addHandler(handler)
    if previous > level or previous == logging.NOTSET:
        logger.setLevel(level)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
