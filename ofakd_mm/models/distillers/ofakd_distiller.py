import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmpretrain.structures import DataSample
from mmrazor.models.algorithms.base import LossResults
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS, TASK_UTILS
from torch import nn

from ..losses import OFAKDLoss
from ..losses.utils import target_class_index
from ..utils import (StageSource, check_stage_sources, discover_stage_sources,
                     record_events, stage_sources_hint, token_layout)
from ..utils.stage_discovery import (CHANNELS_FIRST, DryRun, ErrorNote, as_hw,
                                     classifier_root, declared_image_size,
                                     map_data_format, parse_output)

InputSize = Union[int, Sequence[int]]
StageSources = Union[Dict[int, str], Sequence[str]]

#: The form of ``stage_sources``, for messages before the student is known.
STAGE_SOURCES_FORM = ("stage_sources={1: '<module>', 2: '<module>', "
                      "3: '<module>', 4: '<module>'} (module names from the "
                      "student's root, e.g. 'backbone.stages.0')")


def format_stage(info: Dict[str, Any]) -> str:
    """One line for an entry of :attr:`OFAKDDistiller.stage_info`: module,
    output shape (without the batch), grid, extra tokens and why."""
    grid = 'x'.join(map(str, info['grid'])) if info.get('grid') else '?'
    line = (f"stage{info['stage']}: {info['module']} "
            f"{tuple(info['shape'])}, grid {grid}")
    if info.get('extra_tokens') is not None:
        line += f", {info['extra_tokens']} extra token(s)"
    return line + f"; why: {info['why']}"


def _dry_run_note(model: nn.Module, role: str, image_hw: Tuple[int, int],
                  what: str) -> str:
    """Where an error of a build-time dry run comes from, and the size the
    model states it was built for if that differs from ``input_size``."""
    note = (f'OFA-KD build-time dry run ({what}) of the {role} at input '
            f'size {image_hw[0]}x{image_hw[1]} (OFAKDDistill.input_size).')
    built = declared_image_size(model)
    if built is not None and built != image_hw:
        note += (f' The {role} backbone was built for {built[0]}x{built[1]}'
                 ' images (its `img_size`): set `input_size` of OFAKDDistill'
                 ' to the image size of the data pipeline, and `img_size` '
                 'to the same.')
    return note


def _shape_of(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, (tuple, list)):
        return '(' + ', '.join(_shape_of(v) for v in value) + ')'
    return type(value).__name__


def _feature_width(feature: Any) -> int:
    """Width of what enters the classification layer (a tuple for heads
    with several tokens, e.g. the distilled DeiT head)."""
    while isinstance(feature, (tuple, list)):
        feature = feature[0]
    return int(feature.shape[-1])


def _check_user_names(ours: Sequence[str], theirs: Optional[Dict],
                      setting: str) -> Dict:
    theirs = dict(theirs or {})
    clash = sorted(set(ours) & set(theirs))
    if clash:
        raise KeyError(
            f'OFAKDDistiller builds {clash} of `distiller.{setting}` itself: '
            f'rename yours in the config (OFA-KD uses the names {sorted(ours)}'
            ').')
    return theirs


@MODELS.register_module()
class OFAKDDistiller(ConfigurableDistiller):
    """Distiller of OFA-KD (Hao et al., NeurIPS 2023): an exit-branch
    projector per chosen student stage, and :class:`OFAKDLoss` between each
    branch's logits (and the student's final logits) and the teacher's final
    logits.

    Losses are logged as ``loss_ofa_stage{k}`` (weight ``ofa_loss_weight``)
    and ``loss_ofa_final`` (weight ``kd_loss_weight``), and the top-1
    accuracy of every branch on the training batch as ``top1_stage{k}`` and
    ``top1_final``. The algorithm builds the projectors by calling
    :meth:`build_projectors` with the student, the teacher and the training
    image size (as MMRazor's ``OverhaulFeatureDistillation`` calls its
    distiller): ``OFAKDDistill`` does; under any other algorithm the first
    training step raises ``TypeError`` instead of training without them.

    The stage modules are ``stage_sources`` if given, else the ones
    :func:`ofakd_mm.models.utils.discover_stage_sources` finds in a dry run
    at the training size; both are checked
    (:func:`ofakd_mm.models.utils.check_stage_sources`). At build, each
    stage's module, output shape, grid, extra tokens and the reason for the
    choice are logged and kept in :attr:`stage_info`.

    Any ``student_recorders``, ``teacher_recorders``, ``connectors``,
    ``distill_losses`` and ``loss_forward_mappings`` given in the config are
    added to OFA's own (whose names they may not reuse); the mappings may
    refer to OFA's recorders (``stage{k}``, ``logits``, ``gt_labels``) and
    connectors (``stage{k}``). Every loss runs once in the build-time dry
    run, so that a shape mismatch fails there, naming the loss.

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
            student's stages, ``{1: 'backbone.layer1', ...}`` or a list of
            four names, instead of the discovered ones.
        logits_source (str, optional): Module whose output is the final
            logits, for student and teacher unless the next two are set.
            Defaults to ``'head'`` for mmpretrain classifiers, ``'model'``
            for ``TimmClassifier`` and, for a teacher without a head, the
            whole model (its tensor-mode forward). A module returning
            several logits (``ConformerHead``) counts as their mean.
        student_logits_source (str, optional): The student's; defaults to
            ``logits_source``.
        teacher_logits_source (str, optional): The teacher's; defaults to
            ``logits_source``.
        label_source (str, optional): Module of the student whose second
            input is the target (hard labels or soft scores). Defaults to
            ``'head.loss_module'`` (``'loss_module'`` for
            ``TimmClassifier``).
    """

    def __init__(self,
                 stages: Sequence[int] = (1, 2, 3, 4),
                 eps: Union[float, Sequence[float]] = 1.0,
                 temperature: float = 1.0,
                 kd_loss_weight: float = 1.0,
                 ofa_loss_weight: float = 1.0,
                 stage_sources: Optional[StageSources] = None,
                 logits_source: Optional[str] = None,
                 student_logits_source: Optional[str] = None,
                 teacher_logits_source: Optional[str] = None,
                 label_source: Optional[str] = None,
                 student_recorders: Optional[Dict] = None,
                 teacher_recorders: Optional[Dict] = None,
                 connectors: Optional[Dict] = None,
                 distill_losses: Optional[Dict] = None,
                 loss_forward_mappings: Optional[Dict] = None,
                 **kwargs) -> None:
        self.stages = self._check_stages(stages)
        self.stage_sources = self._check_stage_sources(stage_sources,
                                                       self.stages)
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
        stage_names = [f'stage{k}' for k in self.stages]
        student_recorders = _check_user_names(
            ['logits', 'gt_labels'] + stage_names, student_recorders,
            'student_recorders')
        teacher_recorders = _check_user_names(['logits'], teacher_recorders,
                                              'teacher_recorders')
        connectors = _check_user_names(stage_names, connectors, 'connectors')
        distill_losses = _check_user_names(list(ofa_losses), distill_losses,
                                           'distill_losses')
        self._user_mappings = _check_user_names(
            list(ofa_losses), loss_forward_mappings, 'loss_forward_mappings')
        # The user's mappings may use recorders and connectors that exist
        # only after the dry run: they are checked in `build_projectors`.
        super().__init__(
            student_recorders=student_recorders,
            teacher_recorders=teacher_recorders,
            connectors=connectors,
            distill_losses={**ofa_losses, **distill_losses},
            loss_forward_mappings=None,
            **kwargs)
        self.logits_sources = dict(
            student=student_logits_source or logits_source,
            teacher=teacher_logits_source or logits_source)
        self.label_source = label_source
        self.projector_cfgs: Dict[str, Dict] = dict()
        #: per stage: module, shape, grid, extra tokens and why (plain
        #: types: logged at build, stored in checkpoint meta)
        self.stage_info: List[Dict[str, Any]] = []

    @staticmethod
    def _check_stages(stages: Sequence[int]) -> List[int]:
        stages = list(stages)
        if not stages:
            raise ValueError(
                'OFAKDDistiller got `stages=[]`: with no exit branch OFA-KD '
                'is plain logit distillation. Set `stages=(1, 2, 3, 4)` (the '
                "paper's four branches) or a subset, or use a KD config.")
        bad = [k for k in stages if k not in (1, 2, 3, 4)]
        if bad or len(set(stages)) != len(stages):
            raise ValueError(
                f'OFAKDDistiller stages must be distinct values of 1, 2, 3, '
                f'4 (the four student stages), got {stages}.')
        return stages

    @staticmethod
    def _check_stage_sources(sources: Optional[StageSources],
                             stages: List[int]) -> Optional[Dict[int, str]]:
        if sources is None:
            return None
        if isinstance(sources, dict):
            bad = [k for k in sources if k not in (1, 2, 3, 4)]
            if bad:
                raise KeyError(
                    f'stage_sources keys must be the stage numbers 1..4, got '
                    f'{bad}: write {STAGE_SOURCES_FORM}.')
            missing = [k for k in stages if k not in sources]
            if missing:
                raise KeyError(
                    f'stage_sources has no module for stages {missing}; it '
                    f'has {sorted(sources)}: write {STAGE_SOURCES_FORM}.')
            return {k: str(sources[k]) for k in stages}
        if isinstance(sources, str) or len(sources) != 4:
            raise ValueError(
                'stage_sources as a list must name the modules of all 4 '
                f'stages, got {sources!r}: write {STAGE_SOURCES_FORM}.')
        return {k: str(sources[k - 1]) for k in stages}

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

    # ------------------------------------------------------------ recorders

    def _logits_source(self, model: nn.Module, role: str) -> str:
        source = self.logits_sources[role]
        if source is None:
            if isinstance(getattr(model, 'head', None), nn.Module):
                source = 'head'
            elif classifier_root(model)[0] == 'model':
                source = 'model'  # TimmClassifier: the timm model's logits
            elif role == 'teacher':
                source = ''  # the teacher's tensor-mode forward
            else:
                raise KeyError(
                    f'The student {type(model).__name__} has no `head`: set '
                    '`student_logits_source` in the distiller config to the '
                    'module that outputs its logits.')
        if source not in dict(model.named_modules()):
            raise KeyError(
                f'The {role} has no module {source!r} to read logits from: '
                f'set `{role}_logits_source` (or `logits_source`) in the '
                'distiller config to the module that outputs the logits.')
        return source

    def _label_source(self, model: nn.Module) -> str:
        modules = dict(model.named_modules())
        source = self.label_source
        if source is None:
            source = 'head.loss_module' if 'head.loss_module' in modules \
                else 'loss_module'
        if source not in modules:
            raise KeyError(
                f'The student has no module {source!r} to read labels '
                "from: set the distiller's `label_source` to the module that "
                'receives (logits, target) in the student.')
        return source

    @staticmethod
    def _check_recorder_sources(manager: RecorderManager, model: nn.Module,
                                role: str) -> None:
        modules = dict(model.named_modules())
        for name, recorder in manager.recorders.items():
            kind = type(recorder).__name__
            if kind.startswith('Module') and recorder.source not in modules:
                raise KeyError(
                    f'{role.capitalize()} recorder {name!r} records module '
                    f'{recorder.source!r}, which the {role} does not have: '
                    f'fix its `source` in `distiller.{role}_recorders`.')

    def prepare_from_student(self, model: nn.Module) -> None:
        """Add the student's ``logits`` and ``gt_labels`` recorders, then
        initialise all student recorders (stage recorders are added by
        :meth:`build_projectors`)."""
        self._check_recorder_sources(self.student_recorders, model,
                                     'student')
        recorders = self.student_recorders.recorders
        recorders['logits'] = TASK_UTILS.build(
            dict(type='OFAKDLogitsRecorder',
                 source=self._logits_source(model, 'student')))
        recorders['gt_labels'] = TASK_UTILS.build(
            dict(type='ModuleInputsRecorder',
                 source=self._label_source(model)))
        super().prepare_from_student(model)

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Add the teacher's ``logits`` recorder, then initialise all
        teacher recorders."""
        self._check_recorder_sources(self.teacher_recorders, model,
                                     'teacher')
        self.teacher_recorders.recorders['logits'] = TASK_UTILS.build(
            dict(type='OFAKDLogitsRecorder',
                 source=self._logits_source(model, 'teacher')))
        super().prepare_from_teacher(model)

    # -------------------------------------------------------------- dry run

    def _stage_sources(self, student: nn.Module,
                       run: DryRun) -> List[StageSource]:
        if self.stage_sources is None:
            found = discover_stage_sources(student, run.image_hw, run)
            return [found[k - 1] for k in self.stages]
        chosen = [
            StageSource(k, self.stage_sources[k], 'user: stage_sources')
            for k in self.stages
        ]
        modules = dict(student.named_modules())
        for choice in chosen:
            if choice.source not in modules:
                raise KeyError(
                    f'Stage {choice.stage} source {choice.source!r} is not a '
                    'module of the student: fix `stage_sources` in the '
                    f'distiller config. {stage_sources_hint(run)}')
        check_stage_sources(run, chosen)
        return chosen

    def _add_stage_recorders(self, student: nn.Module,
                             sources: List[StageSource]) -> None:
        for choice in sources:
            recorder = TASK_UTILS.build(
                dict(type='OFAKDStageRecorder', source=choice.source))
            recorder.initialize(student)
            self.student_recorders.recorders[f'stage{choice.stage}'] = \
                recorder

    @torch.no_grad()
    def _dry_run(self, model: nn.Module, x: torch.Tensor, role: str,
                 recorders: RecorderManager) -> int:
        """Run ``model`` as training will (student: loss mode, teacher:
        tensor mode) on ``x``, recording; return the width of the feature
        that enters its classification layer."""
        head = getattr(model, 'head', None)
        head_inputs: List[Tuple] = []
        handle = head.register_forward_pre_hook(
            lambda module, inputs: head_inputs.append(inputs)) \
            if isinstance(head, nn.Module) else None
        was_training = model.training
        model.eval()
        mode = 'loss mode' if role == 'student' else 'tensor mode'
        try:
            with ErrorNote(_dry_run_note(model, role, x.shape[2:], mode)), \
                    recorders:
                if role == 'student':
                    model(x, [DataSample().set_gt_label(0)], mode='loss')
                else:
                    model(x, mode='tensor')
            logits = recorders.get_recorder('logits').get_record_data()
            # in eval mode: pre_logits may hold a BatchNorm (Vig's head)
            return self._final_width(model, head_inputs,
                                     int(logits.shape[-1]), role)
        finally:
            model.train(was_training)
            if handle is not None:
                handle.remove()

    @staticmethod
    def _final_width(model: nn.Module, head_inputs: List[Tuple],
                     num_classes: int, role: str) -> int:
        head = getattr(model, 'head', None)
        if head_inputs and hasattr(head, 'pre_logits'):
            return _feature_width(head.pre_logits(*head_inputs[0]))
        inner = getattr(model, 'model', None)
        if isinstance(getattr(inner, 'num_features', None), int):
            return inner.num_features  # timm
        linears = [
            m for m in model.modules()
            if isinstance(m, nn.Linear) and m.out_features == num_classes
        ]
        if linears:
            return linears[-1].in_features
        raise ValueError(
            f'OFA-KD cannot tell the feature width of the {role} (what enters '
            'its classification layer, which sizes the projectors): give it '
            'an mmpretrain head with `pre_logits` or a final nn.Linear to '
            'num_classes.')

    @staticmethod
    def _check_recorded(manager: RecorderManager, role: str) -> None:
        settings = dict(logits=f'`{role}_logits_source`',
                        gt_labels='`label_source`')
        for name, recorder in manager.recorders.items():
            if recorder.data_buffer:
                continue
            setting = settings.get(name) or (
                '`stage_sources`' if name.startswith('stage') else
                f'its `source` in `distiller.{role}_recorders`')
            mode = ('loss mode' if role == 'student' else
                    'tensor mode (no loss_module is called)')
            raise ValueError(
                f'{role.capitalize()} recorder {name!r} (source '
                f'{recorder.source!r}) recorded nothing in a dry-run forward '
                f'of the {role} in {mode}: that module is never called. '
                f'Fix {setting} in the distiller config.')

    def build_projectors(self, student: nn.Module, teacher: nn.Module,
                         input_size: InputSize) -> None:
        """Choose the student's stage modules, measure stage shapes, d_S,
        d_T and num_classes with dry-run forwards at ``input_size``, build
        one projector per stage, and run every distillation loss once.

        Called by the algorithm once student and teacher are built (by
        ``OFAKDDistill.__init__``), so that the projectors are in the
        optimizer, in DDP and in checkpoints.

        Args:
            student (nn.Module): The student classifier.
            teacher (nn.Module): The teacher classifier.
            input_size (int | tuple[int, int]): Training image size.
        """
        image_hw = as_hw(input_size)
        self._check_trainable_stages(student)
        with ErrorNote(_dry_run_note(student, 'student', image_hw,
                                     'feature extractor, to find stages')):
            run = record_events(student, image_hw)
        sources = self._stage_sources(student, run)
        self._add_stage_recorders(student, sources)
        device = next(student.parameters()).device
        x = torch.zeros(1, 3, *image_hw, device=device)
        student_dim = self._dry_run(student, x, 'student',
                                    self.student_recorders)
        teacher_dim = self._dry_run(teacher, x, 'teacher',
                                    self.teacher_recorders)
        self._check_recorded(self.student_recorders, 'student')
        self._check_recorded(self.teacher_recorders, 'teacher')
        num_classes = int(self.student_recorders.get_recorder(
            'logits').get_record_data().shape[-1])
        teacher_classes = int(self.teacher_recorders.get_recorder(
            'logits').get_record_data().shape[-1])
        if num_classes != teacher_classes:
            raise ValueError(
                f'The student predicts {num_classes} classes and the teacher '
                f'{teacher_classes}: set the same `num_classes` in both heads '
                '(and use a teacher fine-tuned on this dataset).')
        self.stage_info = []
        for choice in sources:
            name = f'stage{choice.stage}'
            recorder = self.student_recorders.get_recorder(name)
            why = choice.reason
            if recorder.changed_since_recorded():
                # The forward writes into this tensor after the stage (the
                # next block updates it in place): record a copy, so that
                # the branch sees what the stage output.
                recorder.copy = True
                why += ('; its output is changed in place later in the '
                        'forward, the recorder keeps a copy')
            cfg, layout = self._projector_cfg(
                choice.stage, recorder.source, recorder.get_record_data(),
                student, image_hw, run)
            cfg.update(student_dim=student_dim, num_classes=num_classes)
            if cfg['type'] == 'OFAKDConvProjector':
                cfg['teacher_dim'] = teacher_dim
            self.projector_cfgs[name] = cfg
            self.connectors[name] = MODELS.build(cfg).to(device)
            self.stage_info.append(self._stage_entry(
                choice, recorder.get_record_data(), cfg, image_hw,
                why + (f'; {layout}' if layout else '')))
        self.loss_forward_mappings = self._loss_forward_mappings()
        self._check_losses()
        for manager in (self.student_recorders, self.teacher_recorders):
            for recorder in manager.recorders.values():
                recorder.reset_data_buffer()
        for info in self.stage_info:
            print_log(f'OFA-KD {format_stage(info)}', logger='current',
                      level=logging.INFO)

    @staticmethod
    def _check_trainable_stages(student: nn.Module) -> None:
        backbone = classifier_root(student)[1]
        # mmpretrain's RevVisionTransformer trains its layers inside an
        # autograd Function (reversible backprop) unless this is set: the
        # stage features then carry no gradient back to the student.
        if getattr(backbone, 'no_custom_backward', None) is False:
            raise ValueError(
                f'The student {type(backbone).__name__} trains its layers '
                'through a custom reversible backward, in which intermediate '
                'features carry no gradient: the OFA-KD exit branches would '
                'train themselves and not the student. Set '
                '`no_custom_backward=True` on the student backbone '
                '(model.architecture.backbone; ordinary backprop, more '
                'memory).')

    @staticmethod
    def _stage_entry(choice: StageSource, record: Any, cfg: Dict,
                     image_hw: Tuple[int, int], why: str) -> Dict[str, Any]:
        tensor = record[0] if isinstance(record, (tuple, list)) else record
        if cfg['type'] == 'OFAKDTokenProjector':
            grid = cfg['grid_size']
            grid = [grid, grid] if isinstance(grid, int) else list(grid)
            extra = int(cfg.get('num_extra_tokens', 0))
        else:
            grid = list(parse_output(tensor, tensor.shape[0], image_hw).grid)
            extra = None
        return dict(stage=choice.stage, module=choice.source,
                    shape=[int(s) for s in tensor.shape[1:]],
                    grid=[int(g) for g in grid], extra_tokens=extra, why=why)

    def _projector_cfg(self, stage: int, source: str, record: Any,
                       student: nn.Module, image_hw: Tuple[int, int],
                       run: DryRun) -> Tuple[Dict, str]:
        """The projector config for a stage's record, and how a token
        stage's grid and extra tokens were found."""
        if isinstance(record, (tuple, list)) and len(record) >= 2 and \
                isinstance(record[0], torch.Tensor) and record[0].dim() == 3:
            # Swin-style (tokens, (h, w)): the stage states its grid.
            tokens = record[0]
            grid = tuple(int(s) for s in record[1])
            extra = tokens.shape[1] - grid[0] * grid[1]
            if extra < 0:
                raise ValueError(
                    f'Stage {stage} ({source}) gives {tokens.shape[1]} tokens '
                    f'for a {grid[0]}x{grid[1]} grid: point `stage_sources` '
                    f'at another module. {stage_sources_hint(run)}')
            return dict(
                type='OFAKDTokenProjector', embed_dim=int(tokens.shape[-1]),
                grid_size=grid, stage=stage, num_extra_tokens=extra), (
                    f'{extra} extra token(s) and grid {grid[0]}x{grid[1]} '
                    'from its (tokens, hw) output')
        if isinstance(record, torch.Tensor) and record.dim() == 4:
            data_format = map_data_format(record.shape, image_hw)
            if data_format is not None:
                cfg = dict(
                    type='OFAKDConvProjector',
                    in_channels=int(record.shape[1] if data_format ==
                                    CHANNELS_FIRST else record.shape[3]),
                    stage=stage)
                if data_format != CHANNELS_FIRST:
                    cfg['data_format'] = data_format
                return cfg, ''
        if isinstance(record, torch.Tensor) and record.dim() == 3:
            layout = token_layout(student, source, int(record.shape[1]),
                                  image_hw, run)
            grid = layout.grid
            return dict(
                type='OFAKDTokenProjector', embed_dim=int(record.shape[-1]),
                grid_size=grid[0] if grid[0] == grid[1] else grid,
                stage=stage, num_extra_tokens=layout.num_extra_tokens), \
                layout.reason
        raise ValueError(
            f'Stage {stage} ({source}) outputs {_shape_of(record)}; OFA-KD '
            'projects (B, C, H, W) or (B, H, W, C) feature maps and (B, N, E) '
            'tokens: point `stage_sources` at modules with such outputs. '
            + stage_sources_hint(run))

    def _loss_forward_mappings(self) -> Dict[str, Dict]:
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
        # MMRazor's own check of the user's mappings, now that the stage
        # recorders and connectors exist; it fails by assertion, so the
        # context (which setting, what exists) is added here.
        for loss_name, mapping in self._user_mappings.items():
            try:
                self._check_loss_forward_mappings(
                    self.distill_losses, {loss_name: mapping},
                    self.student_recorders, self.teacher_recorders)
            except (AssertionError, TypeError) as err:
                raise KeyError(
                    f'distiller.loss_forward_mappings.{loss_name}: {err} The '
                    f'losses are {sorted(self.distill_losses)}, the student '
                    f'recorders {sorted(self.student_recorders.recorders)}, '
                    'the teacher recorders '
                    f'{sorted(self.teacher_recorders.recorders)}, the '
                    f'connectors {sorted(self.connectors)}.') from err
        mappings.update(self._user_mappings)
        return mappings

    def _describe_input(self, record: Dict) -> str:
        role = 'student' if record.get('from_student') else 'teacher'
        manager = self.student_recorders if role == 'student' else \
            self.teacher_recorders
        recorder = manager.get_recorder(record['recorder'])
        data = recorder.get_record_data(record.get('record_idx', 0),
                                        record.get('data_idx'))
        text = (f"{role} recorder {record['recorder']!r} (source "
                f'{recorder.source!r}) {_shape_of(data)}')
        if record.get('connector'):
            text += f" through connector {record['connector']!r}"
        return text

    @torch.no_grad()
    def _check_losses(self) -> None:
        """Compute every loss once on the records of the dry run (batch 1,
        eval mode), so that inputs that do not fit fail at build time with
        the loss, its recorders and their shapes named."""
        was_training = self.training
        self.eval()
        try:
            for loss_name, mapping in self.loss_forward_mappings.items():
                inputs = '; '.join(
                    f'{arg} = {self._describe_input(record)}'
                    for arg, record in mapping.items())
                loss = self.distill_losses[loss_name]
                with ErrorNote(
                        f'OFA-KD build-time dry run of distill loss '
                        f'{loss_name!r} ({type(loss).__name__}) with '
                        f'{inputs}: make the inputs fit it (other '
                        'recorders, or a connector) in '
                        '`distiller.loss_forward_mappings`.'):
                    loss(**{k: self.get_record(**v)
                            for k, v in mapping.items()})
        finally:
            self.train(was_training)

    def compute_distill_losses(self) -> LossResults:
        """Compute every mapped loss; for :class:`OFAKDLoss` terms also log
        the branch's top-1 accuracy (%) on the batch as ``top1_*``."""
        if not self.projector_cfgs:
            raise TypeError(
                'OFAKDDistiller has no exit branches: the algorithm builds '
                'them by calling `build_projectors` once student and teacher '
                'exist, which OFAKDDistill does and this one did not, so no '
                "OFA loss would be computed. Set `model.type='OFAKDDistill'` "
                'in the config, or write the projectors and losses out with '
                'a ConfigurableDistiller (see configs/quickstart/'
                'ofa-configurable_resnet18-w16_vit-d64-l8_1xb32-40e_'
                'digits20shot.py).')
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
