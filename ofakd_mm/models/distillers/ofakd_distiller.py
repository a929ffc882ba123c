import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.algorithms.base import LossResults
from mmrazor.registry import MODELS, TASK_UTILS
from torch import nn

from ..losses import OFAKDLoss
from ..losses.utils import target_class_index
from ..utils import resolve_stage_sources

InputSize = Union[int, Sequence[int]]


def _feature_width(feature: Any) -> int:
    """Width of what enters the classification layer (a tuple for heads
    with several tokens, e.g. the distilled DeiT head)."""
    if isinstance(feature, (tuple, list)):
        feature = feature[0]
    return int(feature.shape[-1])


def _merge_user_dict(ours: Dict, theirs: Optional[Dict], what: str) -> Dict:
    theirs = dict(theirs or {})
    clash = sorted(set(ours) & set(theirs))
    if clash:
        raise KeyError(
            f'OFAKDDistiller builds {what} named {clash} itself: rename '
            'yours in the config.')
    return {**ours, **theirs}


@MODELS.register_module()
class OFAKDDistiller(ConfigurableDistiller):
    """Distiller of OFA-KD: an exit-branch projector per chosen student stage,
    and :class:`OFAKDLoss` between each branch's logits (and the student's
    final logits) and the teacher's final logits.

    Losses are logged as ``loss_ofa_stage{k}`` (weight ``ofa_loss_weight``)
    and ``loss_ofa_final`` (weight ``kd_loss_weight``), and the top-1
    accuracy of every branch on the training batch as ``top1_stage{k}`` and
    ``top1_final``. The projectors are built by :meth:`build_projectors`
    (called by ``OFAKDDistill``) from a dry-run forward.

    Any ``student_recorders``, ``teacher_recorders``, ``connectors``,
    ``distill_losses`` and ``loss_forward_mappings`` given in the config are
    added to OFA's own, so other MMRazor losses can run beside it.

    Args:
        stages (Sequence[int]): Student stages (1..4) that get a branch.
            Defaults to (1, 2, 3, 4).
        eps (float | Sequence[float]): Target-enhancement exponent, one for
            all terms or one per stage plus a last one for the final logits.
            Defaults to 1.0.
        temperature (float): Softmax temperature. Defaults to 1.0.
        kd_loss_weight (float): w_kd, weight of the final-logit term.
            Defaults to 1.0.
        ofa_loss_weight (float): w_ofa, weight of each branch term.
            Defaults to 1.0.
        stage_sources (dict | Sequence[str], optional): Module names of the
            student's stages (``{1: 'backbone.layer1', ...}`` or a list of
            four names) for backbones the stage table does not know.
        logits_source (str): Module whose output is the final logits, in
            student and teacher. Defaults to ``'head'``.
        label_source (str): Module of the student whose second input is the
            target (hard labels or soft scores). Defaults to
            ``'head.loss_module'``.
    """

    def __init__(self,
                 stages: Sequence[int] = (1, 2, 3, 4),
                 eps: Union[float, Sequence[float]] = 1.0,
                 temperature: float = 1.0,
                 kd_loss_weight: float = 1.0,
                 ofa_loss_weight: float = 1.0,
                 stage_sources: Optional[Union[Dict[int, str],
                                               Sequence[str]]] = None,
                 logits_source: str = 'head',
                 label_source: str = 'head.loss_module',
                 student_recorders: Optional[Dict] = None,
                 teacher_recorders: Optional[Dict] = None,
                 distill_losses: Optional[Dict] = None,
                 loss_forward_mappings: Optional[Dict] = None,
                 **kwargs) -> None:
        self.stages = self._check_stages(stages)
        eps_list = self._expand_eps(eps, len(self.stages))
        ofa_losses = {
            f'loss_ofa_stage{k}': dict(
                type='OFAKDLoss', eps=e, temperature=temperature,
                loss_weight=ofa_loss_weight)
            for k, e in zip(self.stages, eps_list[:-1])
        }
        ofa_losses['loss_ofa_final'] = dict(
            type='OFAKDLoss', eps=eps_list[-1], temperature=temperature,
            loss_weight=kd_loss_weight)
        super().__init__(
            student_recorders=_merge_user_dict(
                dict(logits=dict(type='ModuleOutputs', source=logits_source),
                     gt_labels=dict(type='ModuleInputs',
                                    source=label_source)),
                student_recorders, 'student recorders'),
            teacher_recorders=_merge_user_dict(
                dict(logits=dict(type='ModuleOutputs', source=logits_source)),
                teacher_recorders, 'teacher recorders'),
            distill_losses=_merge_user_dict(ofa_losses, distill_losses,
                                            'losses'),
            loss_forward_mappings=loss_forward_mappings,
            **kwargs)
        self.stage_sources = stage_sources
        self.projector_cfgs: Dict[str, Dict] = dict()

    @staticmethod
    def _check_stages(stages: Sequence[int]) -> List[int]:
        stages = list(stages)
        bad = [k for k in stages if k not in (1, 2, 3, 4)]
        if bad or len(set(stages)) != len(stages):
            raise ValueError(
                f'OFAKDDistiller stages must be distinct values of 1, 2, 3, '
                f'4 (the four student stages), got {stages}.')
        return stages

    @staticmethod
    def _expand_eps(eps: Union[float, Sequence[float]],
                    num_stages: int) -> List[float]:
        if isinstance(eps, (int, float)):
            eps_list = [float(eps)] * (num_stages + 1)
        else:
            eps_list = [float(e) for e in eps]
            if len(eps_list) != num_stages + 1:
                raise ValueError(
                    f'OFAKDDistiller got {len(eps_list)} eps values for '
                    f'{num_stages} stages: give one eps, or one per stage '
                    f'plus a last one for the final logits '
                    f'({num_stages + 1} values).')
        if any(not e > 0 for e in eps_list):
            raise ValueError(f'OFAKDDistiller eps must be > 0, got {eps}.')
        return eps_list

    def _stage_source_list(self, student: nn.Module) -> List[str]:
        sources = self.stage_sources
        if sources is None:
            return resolve_stage_sources(student, self.stages)
        if isinstance(sources, dict):
            missing = [k for k in self.stages if k not in sources]
            if missing:
                raise KeyError(f'stage_sources has no module for stages '
                               f'{missing}; it has {sorted(sources)}.')
            return [sources[k] for k in self.stages]
        if len(sources) != 4:
            raise ValueError('stage_sources as a list must name the modules '
                             f'of all 4 stages, got {len(sources)}.')
        return [sources[k - 1] for k in self.stages]

    def prepare_from_student(self, model: nn.Module) -> None:
        """Add a ``stage{k}`` output recorder per stage, then initialise all
        student recorders."""
        modules = dict(model.named_modules())
        label_source = self.student_recorders.get_recorder(
            'gt_labels').source
        if label_source not in modules:
            raise KeyError(
                f'The student has no module {label_source!r} to read labels '
                "from: set the distiller's `label_source` to the module that "
                'receives (logits, target) in the student head.')
        for k, source in zip(self.stages, self._stage_source_list(model)):
            if source not in modules:
                raise KeyError(
                    f'Stage {k} source {source!r} is not a module of the '
                    'student: fix `stage_sources` in the distiller config.')
            self.student_recorders.recorders[f'stage{k}'] = TASK_UTILS.build(
                dict(type='ModuleOutputsRecorder', source=source))
        super().prepare_from_student(model)

    @torch.no_grad()
    def _dry_run(self, model: nn.Module, recorders: Any, x: torch.Tensor,
                 role: str) -> Tuple[int, int]:
        """Forward ``x`` through ``model`` (recording); return its final
        feature width and number of classes."""
        was_training = model.training
        model.eval()
        try:
            with recorders:
                feats = model.extract_feat(x)
                logits = model.head(feats)
                width = _feature_width(model.head.pre_logits(feats))
        except Exception as e:
            raise ValueError(
                f'OFA-KD dry run of the {role} at input size '
                f'{tuple(x.shape[2:])} failed ({type(e).__name__}: {e}). Set '
                '`input_size` of OFAKDDistill to the image size of the data '
                'pipeline.') from e
        finally:
            model.train(was_training)
        return width, int(logits.shape[-1])

    def build_projectors(self, student: nn.Module, teacher: nn.Module,
                         input_size: InputSize) -> None:
        """Measure stage shapes, d_S, d_T and num_classes with a dry-run
        forward at ``input_size`` and build one projector per stage.

        Args:
            student (nn.Module): The student classifier.
            teacher (nn.Module): The teacher classifier.
            input_size (int | tuple[int, int]): Training image size.
        """
        h, w = (input_size, input_size) if isinstance(input_size, int) \
            else input_size
        device = next(student.parameters()).device
        x = torch.zeros(1, 3, h, w, device=device)
        student_dim, num_classes = self._dry_run(
            student, self.student_recorders, x, 'student')
        teacher_dim, teacher_classes = self._dry_run(
            teacher, self.teacher_recorders, x, 'teacher')
        if num_classes != teacher_classes:
            raise ValueError(
                f'The student predicts {num_classes} classes and the teacher '
                f'{teacher_classes}: set the same `num_classes` in both heads '
                '(and use a teacher fine-tuned on this dataset).')
        backbone = getattr(student, 'backbone', None)
        for k in self.stages:
            record = self.student_recorders.get_recorder(
                f'stage{k}').get_record_data()
            cfg = self._projector_cfg(k, record, backbone, student_dim,
                                      teacher_dim, num_classes)
            self.projector_cfgs[f'stage{k}'] = cfg
            self.connectors[f'stage{k}'] = MODELS.build(cfg).to(device)
        for recorders in (self.student_recorders, self.teacher_recorders):
            for recorder in recorders.recorders.values():
                recorder.reset_data_buffer()

        label = dict(recorder='gt_labels', from_student=True, data_idx=1)
        teacher_logits = dict(recorder='logits', from_student=False)
        mappings = {
            f'loss_ofa_stage{k}': dict(
                preds_S=dict(recorder=f'stage{k}', from_student=True,
                             connector=f'stage{k}'),
                preds_T=teacher_logits, gt_labels=label)
            for k in self.stages
        }
        mappings['loss_ofa_final'] = dict(
            preds_S=dict(recorder='logits', from_student=True),
            preds_T=teacher_logits, gt_labels=label)
        mappings = _merge_user_dict(mappings, self.loss_forward_mappings,
                                    'loss_forward_mappings')
        self._check_loss_forward_mappings(self.distill_losses, mappings,
                                          self.student_recorders,
                                          self.teacher_recorders)
        self.loss_forward_mappings = mappings

    def _projector_cfg(self, stage: int, record: Any,
                       backbone: Optional[nn.Module], student_dim: int,
                       teacher_dim: int, num_classes: int) -> Dict:
        if isinstance(record, (tuple, list)):  # Swin: (tokens, (h, w))
            tokens, grid = record[0], tuple(int(s) for s in record[1])
            return dict(
                type='OFAKDTokenProjector', embed_dim=tokens.shape[-1],
                grid_size=grid, stage=stage, student_dim=student_dim,
                num_classes=num_classes,
                num_extra_tokens=tokens.shape[1] - grid[0] * grid[1])
        if record.dim() == 4:
            return dict(
                type='OFAKDConvProjector', in_channels=record.shape[1],
                stage=stage, student_dim=student_dim, teacher_dim=teacher_dim,
                num_classes=num_classes)
        if record.dim() == 3:
            num_tokens = record.shape[1]
            extra = getattr(backbone, 'num_extra_tokens', None)
            if extra is None:  # no attribute: the remainder of a square grid
                extra = num_tokens - math.isqrt(num_tokens)**2
            grid = math.isqrt(num_tokens - extra)
            if grid * grid != num_tokens - extra:
                raise ValueError(
                    f'Stage {stage} has {num_tokens} tokens with {extra} '
                    'extra tokens, which is no square patch grid.')
            return dict(
                type='OFAKDTokenProjector', embed_dim=record.shape[-1],
                grid_size=grid, stage=stage, student_dim=student_dim,
                num_classes=num_classes, num_extra_tokens=extra)
        raise ValueError(
            f'Stage {stage} output has shape {tuple(record.shape)}; OFA-KD '
            'projects (B, C, H, W) feature maps or (B, N, E) tokens: point '
            '`stage_sources` at modules with such outputs.')

    def compute_distill_losses(self) -> LossResults:
        """Compute every mapped loss; for :class:`OFAKDLoss` terms also log
        the branch's top-1 accuracy (%) on the batch as ``top1_*``."""
        losses = dict()
        for loss_name, mapping in self.loss_forward_mappings.items():
            kwargs = {k: self.get_record(**v) for k, v in mapping.items()}
            loss_module = self.distill_losses[loss_name]
            losses[loss_name] = loss_module(**kwargs)
            if isinstance(loss_module, OFAKDLoss):
                with torch.no_grad():
                    target = target_class_index(kwargs['gt_labels'],
                                                kwargs['preds_S'])
                    correct = kwargs['preds_S'].argmax(dim=1) == target
                    branch = loss_name.split('loss_', 1)[-1]
                    branch = branch[4:] if branch.startswith('ofa_') \
                        else branch
                    losses[f'top1_{branch}'] = correct.float().mean() * 100
        return losses
