"""Evaluate a checkpoint on the test set of an OpenMMLab config.

The checkpoint must fit the config's model exactly (an error names what
differs). For a distillation config the student (``model.architecture``) is
evaluated: the teacher plays no part, so its ``teacher_ckpt`` is not loaded
and need not exist.
"""
import argparse
import os
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import ofakd_mm  # noqa: F401  (compatibility layer, registration)
from ofakd_mm.utils.checkpoint import check_state_dict, model_state_dict
from ofakd_mm.utils.checkpoint.keys import TEACHER_PREFIX
from ofakd_mm.utils.runtime import drop_persistent_workers_without_workers


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument('--out', help='dump the metrics to this json/pkl')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class CheckpointMatchHook(Hook):
    """Refuses a checkpoint whose keys or shapes differ from the model's
    (mmengine loads non-strictly: a mismatch would evaluate the untrained
    weights). A distillation checkpoint's teacher keys are ignored."""

    priority = 'VERY_HIGH'

    def __init__(self, config: str, checkpoint: str) -> None:
        self.config = config
        self.checkpoint = checkpoint

    def after_load_checkpoint(self, runner: Runner,
                              checkpoint: Dict[str, Any]) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model

        def without_teacher(state_dict: Dict[str, Any]) -> Dict[str, Any]:
            return {k: v for k, v in state_dict.items()
                    if not k.startswith(TEACHER_PREFIX)}

        check_state_dict(
            without_teacher(model_state_dict(checkpoint, self.checkpoint)),
            without_teacher(model.state_dict()),
            f'checkpoint {self.checkpoint!r} does not match the model of '
            f'{self.config!r}',
            fix='Pass the config the checkpoint was trained with (a '
            'distillation checkpoint with its distillation config, a '
            'converted student with its exported config).')


def skip_teacher_checkpoint(cfg: Config) -> Optional[str]:
    """Drop ``model.teacher_ckpt`` (testing evaluates the student only);
    returns what it was."""
    model = cfg.get('model')
    if not isinstance(model, dict) or not model.get('teacher_ckpt'):
        return None
    teacher_ckpt = model['teacher_ckpt']
    model['teacher_ckpt'] = None
    return teacher_ckpt


def is_local(filename: str) -> bool:
    """A local path, not a URL or another scheme of mmengine's
    CheckpointLoader."""
    return '://' not in filename and '::' not in filename


def main() -> None:
    args = parse_args()
    if is_local(args.checkpoint) and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} not found.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    teacher_ckpt = skip_teacher_checkpoint(cfg)
    drop_persistent_workers_without_workers(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)
    if teacher_ckpt is not None:
        runner.logger.info(
            'Evaluating the student (model.architecture) of the '
            'distillation model: the teacher is not used, so teacher_ckpt '
            f'({teacher_ckpt}) is not loaded.')
    runner.register_hook(CheckpointMatchHook(args.config, args.checkpoint))
    metrics = runner.test()
    if args.out:
        from mmengine.fileio import dump
        dump(metrics, args.out)


if __name__ == '__main__':
    main()
