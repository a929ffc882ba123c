import logging
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.algorithms.base import LossResults
from mmrazor.models.utils import add_prefix
from mmrazor.registry import MODELS
from torch import nn

from ...utils.checkpoint import load_teacher_checkpoint
from ...utils.checkpoint.keys import TEACHER_PREFIX
from ...utils.config import resolve_model_cfg

#: The data preprocessor of a ``data_preprocessor`` dict without ``type``.
DEFAULT_DATA_PREPROCESSOR = 'mmpretrain.BatchClsDataPreprocessor'
#: (mean, std, to_rgb) of an input normalisation; mean/std None: none.
Normalisation = Tuple[Optional[torch.Tensor], Optional[torch.Tensor], bool]


def _normalisation_of(preprocessor: Optional[nn.Module]) -> Normalisation:
    """The input normalisation an mmpretrain/mmengine image data
    preprocessor applies: per-channel mean and std (``None`` when it does not
    normalise) and whether it reverses the channel order."""
    if preprocessor is None:
        return None, None, False
    to_rgb = bool(getattr(preprocessor, 'to_rgb', False)
                  or getattr(preprocessor, '_channel_conversion', False))
    if getattr(preprocessor, '_enable_normalize', False):
        return (preprocessor.mean.detach().flatten().float().cpu(),
                preprocessor.std.detach().flatten().float().cpu(), to_rgb)
    return None, None, to_rgb


def _normalisation_from_cfg(cfg: Dict) -> Normalisation:
    unknown = set(cfg) - {'mean', 'std', 'to_rgb'}
    if unknown or ('mean' in cfg) != ('std' in cfg):
        raise ValueError(
            f'teacher_data_preprocessor={cfg!r}: give the normalisation the '
            "teacher's weights expect as dict(mean=[...], std=[...], "
            "to_rgb=...), or 'student' for the student's input.")
    if 'mean' not in cfg:
        return None, None, bool(cfg.get('to_rgb', False))
    return (torch.tensor(cfg['mean'], dtype=torch.float32),
            torch.tensor(cfg['std'], dtype=torch.float32),
            bool(cfg.get('to_rgb', False)))


def renormalisation(source: Normalisation, target: Normalisation
                    ) -> Optional[Tuple[torch.Tensor, torch.Tensor, bool]]:
    """Per-channel ``scale``, ``shift`` and channel reversal that turn an
    input normalised as ``source`` into one normalised as ``target``:
    ``target_input = flip?(source_input) * scale + shift``. ``None`` when
    both are the same.

    Both undo to the same raw image ``r``: ``source_input =
    (c_s(r) - m_s) / s_s`` with ``c_s`` the source's channel order, so
    ``target_input = (c_t(r) - m_t) / s_t = (c(c_s(r)) - m_t) / s_t`` with
    ``c`` a reversal when the two orders differ.
    """
    (m_s, s_s, rgb_s), (m_t, s_t, rgb_t) = source, target
    channels = next((t.numel() for t in (m_s, m_t) if t is not None), 3)
    ones, zeros = torch.ones(channels), torch.zeros(channels)
    m_s = zeros if m_s is None else m_s
    s_s = ones if s_s is None else s_s
    m_t = zeros if m_t is None else m_t
    s_t = ones if s_t is None else s_t
    flip = rgb_s != rgb_t
    if flip:  # the raw image seen in the target's channel order
        m_s, s_s = m_s.flip(0), s_s.flip(0)
    scale, shift = s_s / s_t, (m_s - m_t) / s_t
    if not flip and torch.allclose(scale, ones) and torch.allclose(
            shift, zeros):
        return None
    return scale.view(1, -1, 1, 1), shift.view(1, -1, 1, 1), flip


def _drop_teacher_state(module: nn.Module, state_dict: Dict, prefix: str,
                        local_metadata: Dict) -> None:
    if not module.save_teacher:
        teacher_prefix = prefix + TEACHER_PREFIX
        for key in [k for k in state_dict if k.startswith(teacher_prefix)]:
            del state_dict[key]


def _restore_teacher_state(module: nn.Module, state_dict: Dict, prefix: str,
                           *args) -> None:
    # A checkpoint saved without the teacher: keep the teacher that
    # `teacher_ckpt` loaded instead of reporting its keys as missing.
    teacher_prefix = prefix + TEACHER_PREFIX
    if any(k.startswith(teacher_prefix) for k in state_dict):
        module.teacher_loaded = True
    else:
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
        teacher_ckpt (str, optional): Path or URL of the teacher
            checkpoint: anything mmengine's ``CheckpointLoader`` reads (local
            file, ``http(s)://``, ``s3://``, ``open-mmlab://``,
            ``mmpretrain::MODEL``), loaded strictly and without running code
            (see :mod:`ofakd_mm.utils.checkpoint`).
        gt_loss_weight (float): Weight of the student's own task loss
            (w_gt). Defaults to 1.0.
        save_teacher (bool): Whether checkpoints include the teacher.
            Defaults to False.
        student_trainable (bool): False freezes the student's parameters
            (no gradient, no update; BatchNorm statistics still follow the
            data): only the distiller's modules (e.g. OFA-KD's exit
            branches) train. Defaults to True.
        channels_last (bool): Run models and inputs in channels-last memory
            format (faster convolutions on recent GPUs and CPUs). Defaults
            to False.
        teacher_data_preprocessor (str | dict, optional): The input
            normalisation the teacher's weights expect. ``None`` (default):
            the normalisation of the teacher's own ``data_preprocessor``
            (e.g. mean/std 127.5 for timm's MLP-Mixer), or the student's
            input if the teacher has none; ``'student'``: the teacher sees
            the student's input, as in the official OFA-KD code; or
            ``dict(mean=[...], std=[...], to_rgb=...)``. The student's
            normalised batch is re-normalised for the teacher by a
            per-channel affine map (no second pass over the data; batch
            mixup/cutmix commute with it).
        **kwargs: Other arguments of ``SingleTeacherDistill``
            (``architecture``, ``data_preprocessor``, ...). A
            ``data_preprocessor`` dict without ``type`` is a
            ``BatchClsDataPreprocessor``.
    """

    def __init__(self,
                 distiller: dict,
                 teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None,
                 gt_loss_weight: float = 1.0,
                 save_teacher: bool = False,
                 channels_last: bool = False,
                 teacher_data_preprocessor: Optional[Union[str, Dict]] = None,
                 **kwargs) -> None:
        if kwargs.pop('teacher_trainable', False):
            raise ValueError(
                f'{type(self).__name__} keeps the teacher frozen: remove '
                '`teacher_trainable` or use mmrazor SingleTeacherDistill.')
        if 'architecture' in kwargs:
            kwargs['architecture'] = resolve_model_cfg(kwargs['architecture'])
        preprocessor = kwargs.get('data_preprocessor')
        if isinstance(preprocessor, dict) and 'type' not in preprocessor:
            # As mmpretrain's ImageClassifier defaults it (dataset base
            # configs give mean/std without a type).
            kwargs['data_preprocessor'] = dict(
                preprocessor, type=DEFAULT_DATA_PREPROCESSOR)
        super().__init__(
            distiller, resolve_model_cfg(teacher), teacher_ckpt=None, **kwargs)
        #: Whether the teacher has trained weights (from `teacher_ckpt`, or
        #: from a checkpoint saved with the teacher).
        self.teacher_loaded = bool(teacher_ckpt)
        self._warned_untrained_teacher = False
        if teacher_ckpt:
            load_teacher_checkpoint(self.teacher, teacher_ckpt)
            self.teacher._is_init = True
        if not self.student_trainable:
            # mmrazor's parent only skips the student's gradients when its
            # task loss is off; here the flag means what it says.
            self.student.requires_grad_(False)
        self.teacher.eval()
        self.gt_loss_weight = gt_loss_weight
        self.save_teacher = save_teacher
        self.channels_last = channels_last
        self._set_teacher_input(teacher_data_preprocessor)
        self.to_memory_format()
        self.register_state_dict_post_hook(_drop_teacher_state)
        self.register_load_state_dict_pre_hook(_restore_teacher_state)

    def _set_teacher_input(self, setting: Optional[Union[str, Dict]]) -> None:
        """Buffers ``teacher_input_scale``/``teacher_input_shift`` (and
        ``teacher_input_flip``) that map the student's normalised batch to
        the teacher's normalisation, see ``teacher_data_preprocessor``."""
        student = _normalisation_of(self.data_preprocessor)
        if setting == 'student':
            target = student
        elif setting is None:
            target = _normalisation_of(
                getattr(self.teacher, 'data_preprocessor', None))
            if target[0] is None:  # the teacher does not say: as student
                target = student
        elif isinstance(setting, dict):
            target = _normalisation_from_cfg(setting)
        else:
            raise ValueError(
                f'teacher_data_preprocessor={setting!r}: use None (the '
                "teacher's own normalisation), 'student', or dict(mean=..., "
                'std=..., to_rgb=...).')
        mapping = renormalisation(student, target)
        self.teacher_input_flip = bool(mapping and mapping[2])
        scale, shift = (mapping[0], mapping[1]) if mapping else (None, None)
        # Not in the state dict: settings of the run, not weights.
        self.register_buffer('teacher_input_scale', scale, persistent=False)
        self.register_buffer('teacher_input_shift', shift, persistent=False)

    def teacher_inputs(self, batch_inputs: torch.Tensor) -> torch.Tensor:
        """The student's normalised batch (B, C, H, W) in the teacher's
        normalisation."""
        if self.teacher_input_scale is None:
            return batch_inputs
        if self.teacher_input_flip:
            batch_inputs = batch_inputs.flip(1)
        return torch.addcmul(self.teacher_input_shift, batch_inputs,
                             self.teacher_input_scale)

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

    def train_step(self, data: Union[Dict, Tuple, List],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Check the batch's labels against the heads, then train as
        mmengine's ``BaseModel.train_step``."""
        if not (self.teacher_loaded or self._warned_untrained_teacher):
            # Warned when training starts, not at build time: a teacher
            # without weights is right for evaluating the student or
            # counting parameters.
            print_log(
                'Training with a teacher that has no trained weights (no '
                '`teacher_ckpt`): set `teacher_ckpt` to a checkpoint of the '
                'teacher.', logger='current', level=logging.WARNING)
            self._warned_untrained_teacher = True
        self._check_labels(data)
        return super().train_step(data, optim_wrapper)

    def _check_labels(self, data: Any) -> None:
        """Raise a clear error for a class index the heads cannot predict.

        Runs on the data loader's CPU labels, before they reach the device
        and the student's loss (whose error would be a bare ``IndexError``
        or a device-side assert), so it costs no device sync.
        """
        samples = data.get('data_samples') if isinstance(data, dict) else None
        num_classes = getattr(getattr(self.student, 'head', None),
                              'num_classes', None)
        if not samples or not isinstance(num_classes, int):
            return
        labels = [
            label.reshape(-1) for label in
            (getattr(sample, 'gt_label', None) for sample in samples)
            if isinstance(label, torch.Tensor) and label.device.type == 'cpu'
            and label.numel() and not label.is_floating_point()
        ]
        if not labels:
            return
        # tolist: plain Python numbers, no tensor scalar reads
        values = torch.cat(labels).tolist()
        low, high = min(values), max(values)
        if low < 0 or high >= num_classes:
            bad = high if high >= num_classes else low
            raise ValueError(
                f'The dataset gives class index {bad}, but the student head '
                f'predicts {num_classes} classes (0..{num_classes - 1}): set '
                '`num_classes` of the student and teacher heads '
                '(model.architecture.head.num_classes, '
                'model.teacher.head.num_classes, with a teacher trained on '
                'these classes) to the number of classes of the dataset, or '
                'fix its labels.')

    def loss(self,
             batch_inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> LossResults:
        """Teacher forward (recorded), student loss (recorded), then the
        distillation losses of the distiller."""
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(
                memory_format=torch.channels_last)
        # Once distillation has stopped (mmrazor's StopDistillHook) the
        # teacher's outputs are only needed by deliveries, if any.
        if not self.distillation_stopped or \
                self.distiller.deliveries.deliveries:
            self.distiller.set_deliveries_override(False)
            with self.distiller.teacher_recorders, \
                    self.distiller.deliveries, torch.no_grad():
                self.teacher(
                    self.teacher_inputs(batch_inputs), data_samples,
                    mode='tensor')
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
        else:
            losses.update(self._stopped_distiller_loss())
        # Records would otherwise keep this step's features alive until the
        # recorders are entered again, during the next teacher forward.
        for manager in (self.distiller.teacher_recorders,
                        self.distiller.student_recorders):
            for recorder in manager.recorders.values():
                recorder.reset_data_buffer()
        return losses

    def _stopped_distiller_loss(self) -> Dict[str, torch.Tensor]:
        """A zero loss over the distiller's trainable parameters (the exit
        branches) once distillation has stopped: DDP without
        ``find_unused_parameters`` expects a gradient for every parameter
        it was built with, at every step."""
        params = [p for p in self.distiller.parameters() if p.requires_grad]
        if not params:
            return {}
        zero = torch.stack([p.sum() for p in params]).sum() * 0.
        return {'distill.loss_stopped': zero}
