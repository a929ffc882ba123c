import copy
import logging
from typing import Dict

import torch
from mmengine.hooks import EMAHook
from mmengine.logging import print_log
from mmengine.model import ExponentialMovingAverage, is_model_wrapper
from mmengine.registry import HOOKS, MODELS
from mmengine.runner.checkpoint import load_state_dict
from torch import nn

from ...utils.checkpoint.keys import EMA_PREFIX


def _on(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor if tensor.device == device else tensor.to(device)


@MODELS.register_module()
class ForeachExponentialMovingAverage(ExponentialMovingAverage):
    """mmengine's :class:`~mmengine.model.ExponentialMovingAverage` updating
    all parameters (and buffers) with one multi-tensor operation each
    (``torch._foreach_lerp_`` / ``_foreach_copy_``) instead of one
    operation per tensor: the same numbers, torch's ``lerp`` either way,
    for a few kernel launches a step instead of hundreds.

    Args: as :class:`~mmengine.model.ExponentialMovingAverage`.
    """

    def update_parameters(self, model: nn.Module) -> None:
        """Average ``model``'s parameters into this one's (the first call
        copies them), every ``interval`` calls."""
        source = (model.state_dict()
                  if self.update_buffers else dict(model.named_parameters()))
        pairs = [(avg.data, _on(source[key].data, avg.device))
                 for key, avg in self.avg_parameters.items()]
        # `steps` lives on the CPU (mmengine creates it without a device):
        # these tests read no GPU tensor.
        if self.steps == 0:
            torch._foreach_copy_(*zip(*pairs))
        elif self.steps % self.interval == 0:
            floating = [p for p in pairs if p[0].dtype.is_floating_point]
            if floating:
                averaged, current = zip(*floating)
                torch._foreach_lerp_(averaged, current, self.momentum)
        if not self.update_buffers:
            buffers = [(avg.data, _on(src.data, avg.device)) for avg, src in
                       zip(self.module.buffers(), model.buffers())]
            if buffers:
                torch._foreach_copy_(*zip(*buffers))
        self.steps += 1


# In mmengine's root registry (as its EMAHook and CheckpointHook): found
# from configs of every scope (mmpretrain, mmrazor).
@HOOKS.register_module()
class StudentEMAHook(EMAHook):
    """mmengine's :class:`~mmengine.hooks.EMAHook` that averages only the
    student of a distillation algorithm.

    ``EMAHook`` averages the whole ``runner.model``: under distillation that
    is a second copy of the frozen teacher (memory and time for nothing) and
    of the training-only exit branches. This hook averages
    ``runner.model.student`` (``architecture``); validation and test swap in
    the averaged student, and checkpoints store it under ``state_dict``
    (``architecture.*``, so a released EMA checkpoint is the averaged
    student) and the raw weights under ``ema_state_dict``, as ``EMAHook``
    does. On a model without a ``student`` it behaves as ``EMAHook``.

    Args:
        student_attr (str): Attribute of the algorithm holding the student.
            Defaults to ``'architecture'`` (MMRazor algorithms).
        ema_type (str): The averaged model. Defaults to
            ``'ForeachExponentialMovingAverage'`` (mmengine's
            ``ExponentialMovingAverage``, one operation for all tensors).
        **kwargs: Arguments of :class:`~mmengine.hooks.EMAHook`
            (``momentum``, ``begin_epoch``, ...).
    """

    def __init__(self,
                 student_attr: str = 'architecture',
                 ema_type: str = 'ForeachExponentialMovingAverage',
                 **kwargs) -> None:
        super().__init__(ema_type=ema_type, **kwargs)
        self.student_attr = student_attr
        self.prefix = ''

    def before_run(self, runner) -> None:
        """Create the averaged copy of the student."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        student = getattr(model, self.student_attr, None)
        if student is None:
            print_log(
                f'StudentEMAHook: {type(model).__name__} has no '
                f'`{self.student_attr}`; averaging the whole model.',
                logger='current', level=logging.WARNING)
            student, self.prefix = model, ''
        else:
            self.prefix = self.student_attr + '.'
        self.src_model = student
        self.ema_model = MODELS.build(
            self.ema_cfg, default_args=dict(model=student))

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Resume the averaged student, or start it from the checkpoint's
        student when the checkpoint has no ``ema_state_dict``."""
        if 'ema_state_dict' in checkpoint and runner._resume:
            self._swap_ema_state_dict(checkpoint)
            self.ema_model.load_state_dict(
                checkpoint['ema_state_dict'], strict=self.strict_load)
            return
        if runner._resume:
            print_log(
                'There is no `ema_state_dict` in the checkpoint: the '
                'averaged student starts from its `state_dict`.',
                logger='current', level=logging.WARNING)
        student_state = {
            k[len(self.prefix):]: v
            for k, v in checkpoint['state_dict'].items()
            if k.startswith(self.prefix)
        }
        load_state_dict(self.ema_model.module, copy.deepcopy(student_state),
                        strict=self.strict_load)

    def _swap_ema_state_dict(self, checkpoint: Dict) -> None:
        """Swap the averaged and raw student weights between
        ``ema_state_dict`` (``module.*``) and ``state_dict``
        (``<student_attr>.*``)."""
        model_state = checkpoint['state_dict']
        ema_state = checkpoint['ema_state_dict']
        for key in ema_state:
            if key.startswith(EMA_PREFIX):
                model_key = self.prefix + key[len(EMA_PREFIX):]
                ema_state[key], model_state[model_key] = \
                    model_state[model_key], ema_state[key]
