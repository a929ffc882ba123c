"""Which module of a classifier ends each of the four OFA-KD stages.

Hao et al. (NeurIPS 2023, Sec. 3.2 and 4.1) put an exit branch after each of
four student stages: the resolution stages of a hierarchical network, the
final feature ending stage 4; an isotropic stack (ViT, MLP-Mixer) is split
after blocks 2, 4, n-2 and n. :func:`discover_stage_sources` applies that to
what the model itself says, in a dry run at the training size:

1. **Declared stages.** A backbone that declares its stages (the ``i in
   out_indices`` / ``out_scales`` tests of its forward, timm's
   ``feature_info``) gives one output per stage. Each is the module whose
   output the backbone holds at that test; a norm (or other weightless
   step) it applies to the output belongs to the output. Outputs at one
   resolution form a level whose last output ends it; the last four levels
   are the stages. A stage output that already contains the next stage's
   downsample (Swin with ``out_after_downsample=True``, TinyViT, DenseNet)
   ends before that downsample. A backbone with fewer than four levels gets
   the end of the level before its first one (its stem) as stage 1.
2. **Isotropic stacks.** Declared outputs all at one resolution are
   blocks, split by :func:`depth_split`.
3. **The heuristic walk**, only for backbones that declare nothing: the
   calls of the dry run grouped by resolution, the last module of each
   level before the next downsample.

:func:`check_stage_sources` then rejects taps that would silently be wrong
(two stages on one module, stages out of forward order, a tap inside a
block), for the ones found here and those the user names alike.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torch import nn

from .stage_discovery import (DOWNSAMPLE_RATIO, SIZE_SLACK, DryRun, InputSize,
                              StageDiscoveryError, _Walk, as_hw,
                              ends_in_downsample, record_events, stride_of)

#: Candidate modules listed per resolution in a ``stage_sources`` hint.
HINT_PER_STRIDE = 3


@dataclass
class StageSource:
    """The module whose output is one stage, and why it was chosen."""
    stage: int
    source: str
    reason: str


def depth_split(num_blocks: int) -> List[int]:
    """The 1-based blocks that end the four stages of an isotropic stack of
    ``num_blocks`` blocks: 2, 4, n-2 and n as in the paper (12 blocks: 2, 4,
    10, 12; 24: 2, 4, 22, 24). Where these are not four distinct blocks in
    depth order (n < 7), the missing ones are the deepest blocks left
    (4: 1, 2, 3, 4; 5: 2, 3, 4, 5; 6: 2, 4, 5, 6).

    Raises:
        StageDiscoveryError: For fewer than 4 blocks.
    """
    if num_blocks < 4:
        raise StageDiscoveryError(
            f'an isotropic stack of {num_blocks} blocks has no 4 distinct '
            'blocks to end the four OFA-KD stages')
    chosen = sorted({2, 4, num_blocks - 2, num_blocks})
    spare = [b for b in range(num_blocks, 0, -1) if b not in chosen]
    return sorted(chosen + spare[:4 - len(chosen)])


def _same_level(run: DryRun, a: int, b: int) -> bool:
    size_a = run.events[a].output.size
    size_b = run.events[b].output.size
    return DOWNSAMPLE_RATIO * size_a <= size_b <= SIZE_SLACK * size_a


def _before_output_steps(run: DryRun, index: int) -> Tuple[int, List[str]]:
    """Step back from output steps (a norm, an identity) to the call whose
    output they process."""
    skipped = []
    while True:
        event = run.events[index]
        previous = run.previous_sibling(index)
        if not event.is_output_step or previous is None or \
                run.events[previous].output.size != event.output.size:
            return index, skipped
        skipped.append(event.name)
        index = previous


def _before_downsample(run: DryRun, index: int, down: int) -> Optional[int]:
    """The call that ends the resolution level of call ``index``, which
    ends with the downsample ``down``: its last block before ``down``, or,
    if it runs only single layers there (a transition), the call before
    it."""
    event = run.events[index]
    children = event.children[:event.children.index(down)]
    blocks = [c for c in children if run.events[c].is_block]
    if blocks:
        return blocks[-1]
    previous = run.previous_sibling(index)
    if previous is not None and children and run.events[
            previous].output.size == run.events[children[-1]].output.size:
        return previous
    return None


@dataclass
class _Tap:
    event: int
    setting: str
    index: Any
    note: str = ''


def _declared_taps(run: DryRun) -> List[_Tap]:
    """The backbone's declared stage outputs as calls, in forward order,
    with output steps skipped and downsamples that belong to the next stage
    left out."""
    taps: List[_Tap] = []
    for declared in run.declared:
        event, skipped = _before_output_steps(run, declared.event)
        note = f', before its output step {skipped[0]}' if skipped else ''
        if taps and taps[-1].event == event:
            continue
        taps.append(_Tap(event, declared.setting, declared.index, note))
    taps = [t for t in taps if run.events[t.event].output is not None]
    for j in range(len(taps) - 2, -1, -1):
        tap = taps[j]
        if not _same_level(run, tap.event, taps[j + 1].event):
            continue
        down = ends_in_downsample(run, tap.event)
        before = None if down is None else \
            _before_downsample(run, tap.event, down)
        if before is not None:
            taps[j] = _Tap(
                before, tap.setting, tap.index,
                f', before the downsample {run.events[down].name} that '
                f'ends {run.events[tap.event].name}')
    return taps


def _levels(run: DryRun, taps: List[_Tap]) -> List[List[_Tap]]:
    levels: List[List[_Tap]] = []
    for tap in taps:
        if levels and _same_level(run, levels[-1][0].event, tap.event):
            levels[-1].append(tap)
        else:
            levels.append([tap])
    return levels


def _what(run: DryRun) -> str:
    return (f'{run.extractor} at input size '
            f'{run.image_hw[0]}x{run.image_hw[1]}')


def _stride(run: DryRun, index: int) -> int:
    return stride_of(run.events[index].output, run.image_hw)


def _from_declared(run: DryRun) -> Optional[List[StageSource]]:
    if not run.declared:
        return None
    taps = _declared_taps(run)
    if not taps:
        raise StageDiscoveryError(
            f'OFA-KD cannot tap the stages {run.extractor} declares '
            f'({run.declared[0].setting}): at input size '
            f'{run.image_hw[0]}x{run.image_hw[1]} none of them outputs a '
            '(B, C, H, W) map or (B, N, E) tokens. '
            + stage_sources_hint(run))
    levels = _levels(run, taps)
    setting = taps[0].setting
    if len(levels) == 1:
        blocks = levels[0]
        try:
            split = depth_split(len(blocks))
        except StageDiscoveryError as err:
            names = ', '.join(run.events[b.event].name for b in blocks)
            raise StageDiscoveryError(
                f'OFA-KD cannot split {_what(run)}: {err} ({names}), and '
                'tapping a block twice would give two exit branches the '
                'same feature. Give the student at least 4 blocks (e.g. '
                '`num_layers`), or choose fewer branches and name them: '
                "`stages=(2, 3, 4), stage_sources={2: '...', 3: '...', "
                "4: '...'}` in the distiller config. "
                + stage_sources_hint(run)) from err
        stride = _stride(run, blocks[-1].event)
        return [
            StageSource(
                k, run.events[blocks[p - 1].event].name,
                f'declared: block {p} of the {len(blocks)} blocks at stride '
                f'{stride} that {run.extractor}.{setting} indexes '
                f'(isotropic: after blocks {", ".join(map(str, split))})'
                + blocks[p - 1].note)
            for k, p in enumerate(split, start=1)
        ]
    chosen = []
    for k, level in enumerate(levels[-4:], start=5 - min(4, len(levels))):
        tap = level[-1]
        final = ', the final feature' if k == 4 else ''
        chosen.append(StageSource(
            k, run.events[tap.event].name,
            f'declared: {run.extractor}.{tap.setting} {tap.index} '
            f'(stride {_stride(run, tap.event)}{final}){tap.note}'))
    if len(levels) < 4:
        chosen = _stem_stages(run, levels[0][0].event,
                              4 - len(levels)) + chosen
    return chosen


def _stem_stages(run: DryRun, first: int, missing: int) -> List[StageSource]:
    """The ends of the ``missing`` resolution levels of the main path just
    before the first declared stage ``first``."""
    walk = _Walk(run, _what(run), lambda: stage_sources_hint(run))
    before = []
    for level in walk.levels():
        if run.events[level[0]].end >= run.events[first].end:
            break
        if not _same_level(run, level[-1], first):
            before.append(level)
    if len(before) < missing:
        raise StageDiscoveryError(
            f'OFA-KD found {4 - missing} declared resolution stages in '
            f'{_what(run)} and {len(before)} before them, too few for four '
            'stages. ' + stage_sources_hint(run))
    found = []
    for k, level in enumerate(before[-missing:], start=1):
        end = walk.end_of(level)
        found.append(StageSource(
            k, run.events[end].name,
            f'stem: last module at stride {_stride(run, end)} before the '
            f'first declared stage ({run.extractor} declares '
            f'{4 - missing} resolution stages)'))
    return found


def _from_walk(run: DryRun) -> List[StageSource]:
    """The heuristic walk, for backbones that declare no stages."""
    walk = _Walk(run, _what(run), lambda: stage_sources_hint(run))
    levels = walk.levels()
    heading = f'heuristic ({run.extractor} declares no stages): '
    with_weights = [i for i, lv in enumerate(levels)
                    if walk.weight_layers(lv) >= 1]
    staged = [i for i in with_weights if walk.weight_layers(levels[i]) >= 2]
    if not staged:
        raise StageDiscoveryError(
            f'OFA-KD found no stages in {_what(run)}: no module outputs a '
            f'(B, C, H, W) map or (B, N, E) tokens through weight layers. '
            + stage_sources_hint(run))

    def end_of(index: int, last: bool = False) -> Tuple[str, str]:
        end = walk.end_of(levels[index])
        stride = _stride(run, end)
        if last:
            return run.events[end].name, (
                f'{heading}final feature (last module at stride {stride})')
        return run.events[end].name, (
            f'{heading}last module at stride {stride} before the '
            f'downsample in {run.events[levels[index + 1][0]].name}')

    if len(staged) >= 4:
        chosen = [end_of(i, i == staged[-1]) for i in staged[-4:]]
    else:
        blocks = walk.block_stack(levels[staged[-1]])
        missing = 5 - len(staged)
        try:
            split = depth_split(len(blocks))
        except StageDiscoveryError as err:
            raise StageDiscoveryError(
                f'OFA-KD found {len(staged)} resolution level(s) in '
                f'{_what(run)} and {len(blocks)} blocks in the last one, too '
                f'few for four stages ({err}). ' + stage_sources_hint(run)
            ) from err
        stride = _stride(run, blocks[-1])
        chosen = [end_of(i) for i in staged[:-1]]
        for p in split[-missing:]:
            chosen.append((
                run.events[blocks[p - 1]].name,
                f'{heading}block {p} of the {len(blocks)} blocks at stride '
                f'{stride} (isotropic: after blocks '
                f'{", ".join(map(str, split))})'))
    return [StageSource(k, name, why)
            for k, (name, why) in enumerate(chosen, start=1)]


def discover_stage_sources(model: nn.Module,
                           input_size: InputSize,
                           run: Optional[DryRun] = None) -> List[StageSource]:
    """Find the module that ends each of the four stages of ``model`` (see
    the module doc for the rules) and check them with
    :func:`check_stage_sources`.

    Args:
        model (nn.Module): An mmpretrain classifier, a ``TimmClassifier`` or
            any module with ``extract_feat``.
        input_size (int | tuple[int, int]): The training image size.
        run (DryRun, optional): A dry run already recorded at
            ``input_size`` by :func:`record_events`.

    Returns:
        list[StageSource]: Four entries, stages 1..4.

    Raises:
        StageDiscoveryError: If the model has no four stages this way; the
            message lists its candidate modules and shows the
            ``stage_sources`` setting to write instead.
    """
    if run is None:
        run = record_events(model, as_hw(input_size))
    found = _from_declared(run)
    if found is None:
        found = _from_walk(run)
    check_stage_sources(run, found)
    return found


def check_stage_sources(run: DryRun, sources: Sequence[StageSource]) -> None:
    """Raise unless the taps are distinct modules, in forward order, each
    at a block output (not inside a residual block, where it would see one
    branch of it).

    Modules the dry run of the feature extractor does not call (outside
    it) are not checked here.

    Raises:
        StageDiscoveryError: Naming the stages and modules at fault.
    """
    names: Dict[str, int] = {}
    for s in sources:
        if s.source in names:
            raise StageDiscoveryError(
                f'Stages {names[s.source]} and {s.stage} both tap '
                f'{s.source!r}: two exit branches would learn from the same '
                'feature. Give each stage its own module in `stage_sources`.'
                ' ' + stage_sources_hint(run))
        names[s.source] = s.stage
    called = [(s, run.calls(s.source)) for s in sources]
    called = [(s, calls[0]) for s, calls in called if calls]
    for (a, i), (b, j) in zip(called, called[1:]):
        if run.events[j].end < run.events[i].end:
            raise StageDiscoveryError(
                f'Stage {b.stage} ({b.source}) comes before stage {a.stage} '
                f'({a.source}) in the forward: stages must follow the depth '
                'of the network. Reorder `stage_sources`. '
                + stage_sources_hint(run))
    for s, i in called:
        block = run.enclosing_block(i)
        if block is not None:
            raise StageDiscoveryError(
                f'Stage {s.stage} taps {s.source}, inside the block '
                f'{run.events[block].name} whose output is not that of '
                f'{s.source} (a residual branch, not a stage output). Tap '
                f'the block itself, e.g. {run.events[block].name!r}, in '
                '`stage_sources`.')


def candidate_modules(run: DryRun,
                      per_stride: int = HINT_PER_STRIDE
                      ) -> List[Tuple[int, List[int]]]:
    """Modules a stage could tap, per stride: the last ``per_stride``
    modules with weights at each stride whose output is a map or tokens,
    that are no part of a block and whose output their caller does not
    return as its own, in forward order (first calls only).

    Returns:
        list[tuple[int, list[int]]]: ``(stride, call indices)``, strides in
        increasing order; pooled (1 x 1) outputs left out.
    """
    by_stride: Dict[int, List[int]] = {}
    for i, e in enumerate(run.events):
        parent = run.events[e.parent] if e.parent is not None else None
        if e.output is None or parent is None or not e.weight_layers or \
                e.output.size < 2 or run.calls(e.name)[0] != i or \
                (e.returned and parent.output is not None
                 and parent.name != run.prefix) or \
                run.enclosing_block(i) is not None:
            continue
        by_stride.setdefault(_stride(run, i), []).append(i)
    return [(stride, calls[-per_stride:])
            for stride, calls in sorted(by_stride.items())]


def stage_sources_hint(run: DryRun) -> str:
    """The candidate modules of a dry run with their output shapes, per
    stride, and the ``stage_sources`` form the distiller accepts, written
    with the last candidate of each of the four coarsest strides."""
    candidates = candidate_modules(run)
    lines = []
    for stride, calls in candidates:
        shown = ', '.join(
            f'{run.events[i].name} {tuple(run.events[i].output.shape[1:])}'
            for i in calls)
        lines.append(f'stride {stride}: {shown}')
    example = [run.events[calls[-1]].name for _, calls in candidates[-4:]]
    example = (example + ['...'] * 4)[:4] if len(example) < 4 else example
    form = 'stage_sources={' + ', '.join(
        f'{k}: {name!r}' for k, name in enumerate(example, start=1)) + '}'
    return (f'Name the four stage modules in the distiller config, e.g. '
            f'{form}. Candidate modules of {_what(run)} (output shape '
            'without the batch): ' + '; '.join(lines) + '.')
