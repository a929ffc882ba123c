import logging
from typing import Dict, List, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.algorithms.base import LossResults
from mmrazor.models.utils import add_prefix
from mmrazor.registry import MODELS
from torch import nn

from ...utils.checkpoint import load_teacher_checkpoint
from ...utils.config import resolve_model_cfg


def _drop_teacher_state(module: nn.Module, state_dict: Dict, prefix: str,
                        local_metadata: Dict) -> None:
    if not module.save_teacher:
        teacher_prefix = prefix + 'teacher.'
        for key in [k for k in state_dict if k.startswith(teacher_prefix)]:
            del state_dict[key]


def _restore_teacher_state(module: nn.Module, state_dict: Dict, prefix: str,
                           *args) -> None:
    # A checkpoint saved without the teacher: keep the teacher that
    # `teacher_ckpt` loaded instead of reporting its keys as missing.
    teacher_prefix = prefix + 'teacher.'
    if not any(k.startswith(teacher_prefix) for k in state_dict):
        for key, value in module.teacher.state_dict().items():
            state_dict[teacher_prefix + key] = value


@MODELS.register_module()
class FrozenTeacherDistill(SingleTeacherDistill):
    """``SingleTeacherDistill`` with a teacher frozen for the whole run.

    Unlike its parent, the teacher is kept entirely in eval mode (BatchNorm
    statistics, dropout and drop-path off, not only BatchNorm), runs in
    ``mode='tensor'`` under ``no_grad`` (no teacher task loss),
    ``teacher_ckpt`` is loaded strictly, and checkpoints omit the teacher
    unless ``save_teacher=True`` (resuming then keeps the teacher loaded from
    ``teacher_ckpt``). Teacher recorders therefore see the modules of a
    tensor-mode forward (backbone, neck, head; not ``head.loss_module``).

    Args:
        distiller (dict): Config of the distiller.
        teacher (dict | BaseModel): Config of the teacher, or the model. A
            config (as ``architecture``, the student) may be a reference
            ``dict(cfg_path='ofakd_mm::_base_/models/...', **overrides)``,
            resolved by :func:`ofakd_mm.utils.resolve_model_cfg`.
        teacher_ckpt (str, optional): Local path of the teacher checkpoint.
        gt_loss_weight (float): Weight of the student's own task loss
            (w_gt). Defaults to 1.0.
        save_teacher (bool): Whether checkpoints include the teacher.
            Defaults to False.
        channels_last (bool): Run models and inputs in channels-last memory
            format (faster convolutions on recent GPUs and CPUs). Defaults
            to False.
        **kwargs: Other arguments of ``SingleTeacherDistill``
            (``architecture``, ``data_preprocessor``, ...).
    """

    def __init__(self,
                 distiller: dict,
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 gt_loss_weight: float = 1.0,
                 save_teacher: bool = False,
                 channels_last: bool = False,
                 **kwargs) -> None:
        if kwargs.pop('teacher_trainable', False):
            raise ValueError(
                f'{type(self).__name__} keeps the teacher frozen: remove '
                '`teacher_trainable` or use mmrazor SingleTeacherDistill.')
        if 'architecture' in kwargs:
            kwargs['architecture'] = resolve_model_cfg(kwargs['architecture'])
        super().__init__(
            distiller, resolve_model_cfg(teacher), teacher_ckpt=None, **kwargs)
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt)
            self.teacher._is_init = True
        else:
            print_log(
                'No teacher_ckpt: the teacher keeps its initial weights, '
                'which only makes sense for tests and benchmarks.',
                logger='current', level=logging.WARNING)
        self.teacher.eval()
        self.gt_loss_weight = gt_loss_weight
        self.save_teacher = save_teacher
        self.channels_last = channels_last
        self.to_memory_format()
        self.register_state_dict_post_hook(_drop_teacher_state)
        self.register_load_state_dict_pre_hook(_restore_teacher_state)

    def to_memory_format(self) -> None:
        """Move every 4-D parameter to channels-last if asked to (call again
        after adding modules)."""
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> 'FrozenTeacherDistill':
        """Set train mode for everything but the teacher, always in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    def loss(self,
             batch_inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> LossResults:
        """Teacher forward (recorded), student loss (recorded), then the
        distillation losses of the distiller."""
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(
                memory_format=torch.channels_last)
        self.distiller.set_deliveries_override(False)
        with self.distiller.teacher_recorders, self.distiller.deliveries, \
                torch.no_grad():
            self.teacher(batch_inputs, data_samples, mode='tensor')
        self.distiller.set_deliveries_override(True)
        with self.distiller.student_recorders, self.distiller.deliveries:
            student_losses = self.student(
                batch_inputs, data_samples, mode='loss')
        losses = dict()
        if self.calculate_student_loss:
            losses.update(
                add_prefix({
                    k: v * self.gt_loss_weight if 'loss' in k else v
                    for k, v in student_losses.items()
                }, 'student'))
        if not self.distillation_stopped:
            losses.update(
                add_prefix(self.distiller.compute_distill_losses(),
                           'distill'))
        # Records would otherwise keep this step's features alive until the
        # recorders are entered again, during the next teacher forward.
        for manager in (self.distiller.teacher_recorders,
                        self.distiller.student_recorders):
            for recorder in manager.recorders.values():
                recorder.reset_data_buffer()
        return losses
