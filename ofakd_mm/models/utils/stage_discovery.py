"""Find the four OFA-KD stages of any classifier from a dry-run forward.

Hao et al. (NeurIPS 2023) put an exit branch after each of the four stages of
the student: a stage ends with the last module before a spatial
down-sampling of the feature map (or token grid) and the final feature ends
stage 4; isotropic models, which never down-sample, are split by depth after
blocks 2, 4, n-2 and n. :func:`discover_stage_sources` applies that
definition to the modules a dry run actually calls, so that a backbone needs
no entry in the stage table (:mod:`.stage_sources`, still used first where it
has one) nor a ``stage_sources`` setting.

:func:`token_layout` tells the patch grid and the number of extra (class,
distillation) tokens of a token sequence from what the model states
(``num_extra_tokens``, ``patch_resolution``, ``cls_token``...) or from the
token counts of dry runs at two input sizes, never from the count alone.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

Grid = Tuple[int, int]
InputSize = Union[int, Sequence[int]]

#: A later output may exceed an earlier one by this factor (a class token
#: appended, padding) without making the earlier one a detour.
SIZE_SLACK = 1.5
#: An output below this fraction of its level's size starts a new level.
DOWNSAMPLE_RATIO = 0.6
#: A call whose output is below this fraction of its input down-samples more
#: than once (two 2x steps give 1/16).
SPAN_RATIO = 0.15
#: Extra dry-run size (added to H and W) to tell a token grid from two runs.
SECOND_SIZE_STEP = 32

CHANNELS_FIRST = 'channels_first'
CHANNELS_LAST = 'channels_last'


class StageDiscoveryError(ValueError):
    """The stages (or a stage's token grid) cannot be told from the model;
    the message says what to write in ``stage_sources``."""


def as_hw(input_size: InputSize) -> Grid:
    """``input_size`` (int or (H, W)) as an (H, W) tuple of ints."""
    if isinstance(input_size, int):
        return input_size, input_size
    h, w = input_size
    return int(h), int(w)


def stage_sources_hint(prefix: str = 'backbone') -> str:
    """The ``stage_sources`` form the distiller accepts, for messages."""
    head = f'{prefix}.' if prefix else ''
    return (f"stage_sources={{1: '{head}layer1', 2: '{head}layer2', "
            f"3: '{head}layer3', 4: '{head}layer4'}}")


def grid_mismatch(grid: Sequence[int], image_hw: Grid) -> Optional[float]:
    """How unevenly (h, w) down-samples an (H, W) image: the ratio of the
    two strides (1.0 for a feature map; rounding allows up to 4/3), or None
    if (h, w) cannot be a feature-map grid of that image at all."""
    h, w = int(grid[0]), int(grid[1])
    height, width = image_hw
    if not (1 <= h <= height and 1 <= w <= width):
        return None
    if h <= 2 and w <= 2:
        return 1.0
    stride_h, stride_w = height / h, width / w
    ratio = max(stride_h, stride_w) / min(stride_h, stride_w)
    return ratio if ratio <= 4 / 3 + 1e-6 else None


def grid_is_plausible(grid: Sequence[int], image_hw: Grid) -> bool:
    """Whether (h, w) can be the grid of a feature map of an (H, W) image:
    no larger than the image and down-sampled alike in both directions."""
    return grid_mismatch(grid, image_hw) is not None


def map_data_format(shape: Sequence[int], image_hw: Grid) -> Optional[str]:
    """Layout of a 4-D output: ``'channels_first'`` for (B, C, H, W),
    ``'channels_last'`` for (B, H, W, C), None if it is neither. When both
    fit, the more even down-sampling wins, then channels-first."""
    if len(shape) != 4:
        return None
    first = grid_mismatch(shape[2:], image_hw)
    last = grid_mismatch(shape[1:3], image_hw)
    if first is not None and (last is None or first <= last):
        return CHANNELS_FIRST
    return CHANNELS_LAST if last is not None else None


def _hw_pair(value: Any) -> Optional[Grid]:
    if isinstance(value, (tuple, list, torch.Size)) and len(value) == 2 and \
            all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


@dataclass
class Output:
    """A module output as OFA-KD sees it.

    Args:
        kind (str): ``'map'`` (a 4-D feature map) or ``'tokens'`` (B, N, E).
        shape (tuple[int]): Shape of the tensor.
        grid (tuple[int, int], optional): Spatial grid; always known for
            maps, for tokens only from a ``(tokens, (h, w))`` output.
        data_format (str): ``'channels_first'`` or ``'channels_last'``.
    """
    kind: str
    shape: Tuple[int, ...]
    grid: Optional[Grid] = None
    data_format: str = CHANNELS_FIRST

    @property
    def size(self) -> int:
        """Number of spatial positions (tokens count their extra ones)."""
        if self.kind == 'map':
            return self.grid[0] * self.grid[1]
        return self.shape[1]

    @property
    def channels(self) -> int:
        """Channels (maps) or token width."""
        if self.kind == 'map' and self.data_format == CHANNELS_FIRST:
            return self.shape[1]
        return self.shape[-1]


def parse_output(output: Any, batch: int,
                 image_hw: Grid) -> Optional[Output]:
    """Read a module output as a feature map or a token sequence.

    Args:
        output: What the module returned: a tensor, or a Swin-style
            ``(tokens, (h, w), ...)`` tuple.
        batch (int): Batch size of the dry run (other leading sizes are
            windows or heads, not features).
        image_hw (tuple[int, int]): Input image size.

    Returns:
        Output | None: None for anything else (vectors, attention maps,
        several features at once).
    """
    grid = None
    if isinstance(output, (tuple, list)):
        if len(output) < 2 or not isinstance(output[0], torch.Tensor):
            return None
        grid = _hw_pair(output[1])
        if grid is None:
            return None
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.dim() < 3 or \
            output.shape[0] != batch:
        return None
    shape = tuple(int(s) for s in output.shape)
    if output.dim() == 3:
        if shape[2] == 1:  # a pooled (B, C, 1) vector
            return None
        if grid is not None and shape[1] < grid[0] * grid[1]:
            return None
        if shape[1] > image_hw[0] * image_hw[1] + 64:
            return None
        return Output('tokens', shape, grid)
    if output.dim() == 4 and grid is None:
        data_format = map_data_format(shape, image_hw)
        if data_format == CHANNELS_FIRST:
            return Output('map', shape, shape[2:], CHANNELS_FIRST)
        if data_format == CHANNELS_LAST:
            return Output('map', shape, shape[1:3], CHANNELS_LAST)
    return None


@dataclass
class Event:
    """One module call of a dry run.

    Args:
        name (str): Module name from the classifier root.
        parent (int, optional): Index of the call that made this one.
        leaf (bool): Whether the module has no children.
        weight_layers (int): Conv/Linear layers in the module.
        in_shape (tuple, optional): Shape of its first input tensor.
        output (Output, optional): Its output, if a map or tokens.
        grids (tuple): Spatial grids its output states.
        end (int): Order of completion.
        children (list[int]): Indices of the calls it made, in order.
    """
    name: str
    parent: Optional[int]
    leaf: bool
    weight_layers: int
    in_shape: Optional[Tuple[int, ...]] = None
    output: Optional[Output] = None
    grids: Tuple[Grid, ...] = ()
    end: int = -1
    children: Optional[List[int]] = None

    @property
    def is_block(self) -> bool:
        """A shape-preserving module with weights (a residual, transformer
        or MLP block, a plain conv block)."""
        return (not self.leaf and self.output is not None
                and self.in_shape == self.output.shape
                and self.weight_layers >= 1)


def _first_tensor(inputs: Any) -> Optional[torch.Tensor]:
    for item in inputs:
        if isinstance(item, torch.Tensor):
            return item
        if isinstance(item, (tuple, list)) and item and isinstance(
                item[0], torch.Tensor):
            return item[0]
    return None


def _output_grids(output: Any, image_hw: Grid) -> Tuple[Grid, ...]:
    """Every spatial grid an output states (grid evidence for tokens)."""
    if isinstance(output, (tuple, list)):
        grid = _hw_pair(output[1]) if len(output) >= 2 else None
        grids = (grid, ) if grid is not None else ()
        for item in output:
            if isinstance(item, torch.Tensor):
                grids += _output_grids(item, image_hw)
        return grids
    if isinstance(output, torch.Tensor) and output.dim() == 4:
        return tuple((int(g[0]), int(g[1]))
                     for g in (output.shape[2:], output.shape[1:3])
                     if grid_is_plausible(g, image_hw))
    return ()


def classifier_root(model: nn.Module) -> Tuple[str, nn.Module, Tuple[str,
                                                                     ...]]:
    """Where the stages of a classifier live.

    Returns:
        tuple: the attribute name of the feature extractor (``'backbone'``
        for mmpretrain classifiers, ``'model'`` for ``TimmClassifier``, ``''``
        for any other module), the module itself, and names of its children
        that are not part of it (head, neck).
    """
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, nn.Module):
        return 'backbone', backbone, ()
    inner = getattr(model, 'model', None)
    if isinstance(inner, nn.Module) and hasattr(inner, 'forward_features'):
        return 'model', inner, ()
    return '', model, ('head', 'neck', 'data_preprocessor', 'loss_module')


def _weight_layer_counts(root: nn.Module) -> Dict[nn.Module, int]:
    counts: Dict[nn.Module, int] = {}

    def count(module: nn.Module) -> int:
        if module not in counts:
            own = int(isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)))
            counts[module] = own + sum(count(c) for c in module.children())
        return counts[module]

    count(root)
    return counts


def _extract_feat(model: nn.Module, x: torch.Tensor) -> Any:
    if hasattr(model, 'extract_feat'):
        return model.extract_feat(x)
    raise TypeError(
        f'{type(model).__name__} has no `extract_feat`: OFA-KD finds the '
        'stages of mmpretrain classifiers, TimmClassifier and modules with '
        '`extract_feat`/`head`; name the stage modules in the distiller '
        f'config, e.g. {stage_sources_hint("")}.')


@torch.no_grad()
def record_events(model: nn.Module, input_size: InputSize,
                  batch: int = 2) -> List[Event]:
    """Dry-run ``model.extract_feat`` on zeros (eval mode, no_grad) and
    record every module call of its feature extractor as a call tree.

    Args:
        model (nn.Module): The classifier.
        input_size (int | tuple[int, int]): Image size (H, W).
        batch (int): Batch size; 2 tells batch from windows folded into it.

    Returns:
        list[Event]: Calls in the order they start; the first is the
        feature extractor itself.
    """
    image_hw = as_hw(input_size)
    prefix, root, excluded = classifier_root(model)
    counts = _weight_layer_counts(root)
    events: List[Event] = []
    stack: List[int] = []
    finished = [0]
    handles = []

    def make_hooks(name: str, module: nn.Module):
        leaf = next(module.children(), None) is None

        def pre_hook(mod, inputs):
            parent = stack[-1] if stack else None
            first = _first_tensor(inputs)
            events.append(
                Event(name, parent, leaf, counts.get(module, 0),
                      tuple(first.shape) if first is not None else None,
                      children=[]))
            if parent is not None:
                events[parent].children.append(len(events) - 1)
            stack.append(len(events) - 1)

        def hook(mod, inputs, output):
            event = events[stack.pop()]
            # unfold gives (B, C * k * k, L): patches, not tokens yet
            event.output = None if isinstance(mod, nn.Unfold) else \
                parse_output(output, batch, image_hw)
            event.grids = _output_grids(output, image_hw)
            event.end = finished[0]
            finished[0] += 1

        return pre_hook, hook

    for name, module in root.named_modules():
        if name and name.split('.')[0] in excluded:
            continue
        full = '.'.join(p for p in (prefix, name) if p)
        pre_hook, hook = make_hooks(full, module)
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(hook))
    device = next(model.parameters()).device
    x = torch.zeros(batch, 3, *image_hw, device=device)
    was_training = model.training
    model.eval()
    try:
        _extract_feat(model, x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return events


@dataclass
class StageSource:
    """The module whose output is one stage, and why it was chosen."""
    stage: int
    source: str
    reason: str


def _stride(output: Output, image_hw: Grid) -> int:
    size = output.size if output.grid is None else \
        output.grid[0] * output.grid[1]
    return max(1, round(math.sqrt(image_hw[0] * image_hw[1] / size)))


def _input_size(event: Event, image_hw: Grid) -> Optional[int]:
    if event.in_shape is None:
        return None
    parsed = parse_output(torch.empty(event.in_shape, device='meta'),
                          event.in_shape[0], image_hw)
    return parsed.size if parsed is not None else None


class _Walk:
    """The main path of a dry run: the calls the feature extractor makes,
    opened up where one call spans several resolutions or returns something
    that is no single feature (several branches)."""

    def __init__(self, events: List[Event], image_hw: Grid,
                 what: str, prefix: str) -> None:
        self.events = events
        self.image_hw = image_hw
        self.what = what
        self.prefix = prefix
        self.calls: Dict[str, int] = {}
        for e in events:
            self.calls[e.name] = self.calls.get(e.name, 0) + 1

    def must_open(self, event: Event) -> bool:
        """Whether the stage ends inside this call: it returns no single
        feature, down-samples more than once, or runs blocks at its input
        resolution before down-sampling (a stage ending in its downsample)."""
        if event.output is None:
            return True
        size_in = _input_size(event, self.image_hw)
        if size_in is None or event.output.size >= DOWNSAMPLE_RATIO * size_in:
            return False
        if event.output.size < SPAN_RATIO * size_in:
            return True
        children = [self.events[i] for i in event.children]
        chained = all(
            b.in_shape is not None and a.output is not None
            and b.in_shape == a.output.shape
            for a, b in zip(children, children[1:]))
        return chained and any(
            c.is_block and c.output.size >= DOWNSAMPLE_RATIO * size_in
            for c in children)

    def flatten(self, indices: List[int]) -> List[Event]:
        path: List[Event] = []
        for i in indices:
            e = self.events[i]
            if e.children and self.must_open(e):
                path.extend(self.flatten(e.children))
            elif e.output is not None:
                path.append(e)
        return path

    def branch_error(self, event: Event) -> StageDiscoveryError:
        return StageDiscoveryError(
            f'OFA-KD cannot find the stages of {self.what}: {event.name} '
            'works at another resolution than the modules after it (several '
            'branches at different resolutions). Name the four stage modules '
            f'in the distiller config, e.g. {stage_sources_hint(self.prefix)}'
            '.')

    def levels(self) -> List[List[Event]]:
        # The feature extractor's own call, or (timm's forward_features is
        # no module call) the calls made directly inside extract_feat.
        top = [i for i, e in enumerate(self.events) if e.parent is None]
        if len(top) == 1 and self.events[top[0]].name == self.prefix:
            top = self.events[top[0]].children
        path = self.flatten(top)
        # A call that later calls exceed in size is a detour (an unfold
        # before a token transformer); one with weights is a whole branch.
        main: List[Event] = []
        later_max = 0
        for e in reversed(path):
            if SIZE_SLACK * e.output.size >= later_max:
                main.append(e)
            elif e.weight_layers:
                raise self.branch_error(e)
            later_max = max(later_max, e.output.size)
        levels: List[List[Event]] = []
        for e in reversed(main):
            if levels:
                ref = levels[-1][0].output.size
                if e.output.size > SIZE_SLACK * ref:
                    # the tail of the path (a pooling that yields (B, C, 1))
                    if e.weight_layers:
                        raise self.branch_error(e)
                    continue
                if e.output.size >= DOWNSAMPLE_RATIO * ref:
                    levels[-1].append(e)
                    continue
            levels.append([e])
        return levels

    def weight_layers(self, level: List[Event]) -> int:
        return sum(e.weight_layers for e in level)

    def block_stack(self, level: List[Event]) -> List[Event]:
        """The blocks of a level at the depth where it has most (the
        ``layers.i`` of a ViT, the blocks inside one stage container)."""
        best = [e for e in level if e.is_block]
        for e in level:
            if e.is_block and e.children:
                inner = self.block_stack([
                    c for c in (self.events[i] for i in e.children)
                    if c.output is not None
                ])
                if len(inner) > len(best):
                    best = inner
        return best

    def end_of(self, level: List[Event]) -> Event:
        for e in reversed(level):
            if self.calls[e.name] == 1:
                return e
        return level[-1]


def depth_split(num_blocks: int) -> List[int]:
    """1-based blocks that end the four stages of an isotropic stack: 2, 4,
    n-2, n as in the paper (12 blocks: 2, 4, 10, 12), spread evenly for
    fewer than 7 blocks."""
    if num_blocks >= 7:
        return [2, 4, num_blocks - 2, num_blocks]
    return [math.ceil(num_blocks * k / 4) for k in (1, 2, 3, 4)]


def discover_stage_sources(
        model: nn.Module,
        input_size: InputSize,
        events: Optional[List[Event]] = None) -> List[StageSource]:
    """Find the module that ends each of the four stages of ``model``.

    The calls on the main path of a dry run are grouped into levels of equal
    resolution. Levels with at least two weight layers count (a stem conv
    alone does not); with four or more, the last four end the stages (the
    last module of a level is the one before the next level's downsample;
    the last level ends with the final feature). With fewer, the blocks of
    the last level fill the missing stages as an isotropic model is split
    (after blocks 2, 4, n-2 and n), or else lighter levels are used.

    Args:
        model (nn.Module): An mmpretrain classifier, a ``TimmClassifier`` or
            any module with ``extract_feat``.
        input_size (int | tuple[int, int]): The training image size.
        events (list[Event], optional): A dry run already recorded at
            ``input_size`` by :func:`record_events`.

    Returns:
        list[StageSource]: Four entries, stages 1..4.

    Raises:
        StageDiscoveryError: If the model has no four stages this way; the
            message shows the ``stage_sources`` setting to write instead.
    """
    image_hw = as_hw(input_size)
    prefix, root, _ = classifier_root(model)
    what = f'{type(root).__name__} at input size {image_hw}'
    if events is None:
        events = record_events(model, image_hw)
    walk = _Walk(events, image_hw, what, prefix)
    levels = walk.levels()
    with_weights = [i for i, lv in enumerate(levels)
                    if walk.weight_layers(lv) >= 1]
    staged = [i for i in with_weights if walk.weight_layers(levels[i]) >= 2]
    hint = ('Name the four stage modules in the distiller config, e.g. '
            f'{stage_sources_hint(prefix)}.')
    if not staged:
        raise StageDiscoveryError(
            f'OFA-KD found no stages in {what}: no module outputs a (B, C, '
            f'H, W) map or (B, N, E) tokens through weight layers. {hint}')

    def end_of(index: int, last: bool = False) -> Tuple[str, str]:
        end = walk.end_of(levels[index])
        stride = _stride(end.output, image_hw)
        if last:
            return end.name, ('discovered: final feature (last module at '
                              f'stride {stride})')
        return end.name, (f'discovered: last module at stride {stride} '
                          'before the downsample in '
                          f'{levels[index + 1][0].name}')

    if len(staged) >= 4:
        chosen = [end_of(i, i == staged[-1]) for i in staged[-4:]]
    else:
        blocks = walk.block_stack(levels[staged[-1]])
        missing = 5 - len(staged)
        split = depth_split(len(blocks))
        positions = split[-missing:]
        if len(blocks) >= missing and len(set(positions)) == missing:
            chosen = [end_of(i) for i in staged[:-1]]
            stride = _stride(blocks[-1].output, image_hw)
            for p in positions:
                chosen.append((
                    blocks[p - 1].name,
                    f'discovered: block {p} of the {len(blocks)} blocks at '
                    f'stride {stride} (split {", ".join(map(str, split))} '
                    'of blocks without downsampling)'))
        elif len(with_weights) >= 4:
            chosen = [end_of(i, i == with_weights[-1])
                      for i in with_weights[-4:]]
        else:
            raise StageDiscoveryError(
                f'OFA-KD found {len(staged)} resolution level(s) in {what} '
                f'and {len(blocks)} blocks in the last one, too few for four '
                f'stages. {hint}')
    return [StageSource(k, name, why)
            for k, (name, why) in enumerate(chosen, start=1)]


# ---------------------------------------------------------------- tokens


def declared_extra_tokens(model: nn.Module) -> List[int]:
    """Extra-token counts the feature extractor states, most explicit
    first: ``num_extra_tokens`` (mmpretrain), ``num_prefix_tokens`` (timm),
    then its ``cls_token``/``dist_token``/``reg_token`` parameters."""
    root = classifier_root(model)[1]
    found: List[int] = []
    for attr in ('num_extra_tokens', 'num_prefix_tokens'):
        value = getattr(root, attr, None)
        if isinstance(value, int):
            found.append(value)
    counted = 0
    for attr in ('cls_token', 'dist_token'):
        if isinstance(getattr(root, attr, None), torch.Tensor):
            counted += 1
    reg = getattr(root, 'reg_token', None)
    if isinstance(reg, torch.Tensor) and reg.dim() == 3:
        counted += reg.shape[1]
    if counted:
        found.append(counted)
    return list(dict.fromkeys(found))


def declared_grid(model: nn.Module) -> Optional[Grid]:
    """The patch grid the feature extractor states (``patch_resolution``,
    or timm's ``patch_embed.grid_size``), at the size it was built for."""
    root = classifier_root(model)[1]
    value = getattr(root, 'patch_resolution', None)
    if value is None:
        value = getattr(getattr(root, 'patch_embed', None), 'grid_size', None)
    if isinstance(value, int):
        return value, value
    return _hw_pair(tuple(value)) if value is not None else None


def solve_token_grid(tokens: Tuple[int, int],
                     sizes: Tuple[Grid, Grid]) -> List[Tuple[Grid, int]]:
    """Patch grids and extra-token counts that explain the token counts of
    two dry runs: N = m + h * w at both sizes, with the same stride.

    Args:
        tokens (tuple[int, int]): Token counts at the two sizes.
        sizes (tuple): The two input sizes (H, W).

    Returns:
        list: Distinct ``((h, w), m)`` solutions at the first size.
    """

    def grids(hw: Grid, stride: int) -> set:
        h = {hw[0] // stride, -(-hw[0] // stride)}
        w = {hw[1] // stride, -(-hw[1] // stride)}
        return {(a, b) for a in h for b in w if a and b}

    solutions = set()
    for stride in range(1, max(sizes[0]) + 1):
        for grid in grids(sizes[0], stride):
            extra = tokens[0] - grid[0] * grid[1]
            if extra < 0:
                continue
            if any(g[0] * g[1] + extra == tokens[1]
                   for g in grids(sizes[1], stride)):
                solutions.add((grid, extra))
    return sorted(solutions)


@dataclass
class TokenLayout:
    """Patch grid and extra tokens of a token sequence, and how they were
    found."""
    grid: Grid
    num_extra_tokens: int
    reason: str


def token_layout(model: nn.Module,
                 source: str,
                 num_tokens: int,
                 input_size: InputSize,
                 events: Optional[List[Event]] = None) -> TokenLayout:
    """Patch grid and number of extra tokens of the (B, N, E) output of
    ``source``.

    Tried in turn: an extra-token count the model states (or none) with the
    grid it states (``patch_resolution``) or a grid its modules output
    before ``source`` in the dry run; then the token counts of dry runs at
    two input sizes.

    Args:
        model (nn.Module): The classifier.
        source (str): The module, named from the classifier root.
        num_tokens (int): N, the token count at ``input_size``.
        input_size (int | tuple[int, int]): The dry-run size.
        events (list[Event], optional): A dry run at ``input_size``.

    Returns:
        TokenLayout: The grid (h, w) with h * w + m = N, and m.
    """
    image_hw = as_hw(input_size)
    stated = declared_grid(model)
    if events is None:
        events = record_events(model, image_hw)
    ends = [e.end for e in events if e.name == source]
    before = sorted((e for e in events if ends and e.end < ends[0]),
                    key=lambda e: e.end)
    seen = [g for e in before for g in e.grids]
    evidence = ([(stated, 'patch_resolution')] if stated else []) + [
        (g, 'the patch grid its modules output') for g in reversed(seen)
    ]
    for extra in declared_extra_tokens(model) + [0]:
        for grid, origin in evidence:
            if grid[0] * grid[1] + extra == num_tokens:
                return TokenLayout(
                    grid, extra, f'{extra} extra token(s) and grid '
                    f'{grid[0]}x{grid[1]} from {origin}')
    if image_hw[0] == image_hw[1]:
        # A square image has a square grid: with the extra tokens the model
        # states (or none), g * g + m = N leaves no choice of g.
        for extra in declared_extra_tokens(model) + [0]:
            side = math.isqrt(max(num_tokens - extra, 0))
            if side and side * side + extra == num_tokens:
                return TokenLayout((side, side), extra, (
                    f'{extra} extra token(s) and grid {side}x{side} of a '
                    'square image'))
    second = (image_hw[0] + SECOND_SIZE_STEP, image_hw[1] + SECOND_SIZE_STEP)
    prefix = classifier_root(model)[0]
    advice = (
        'Set `num_extra_tokens` (class/distillation tokens in front) and '
        '`patch_resolution` (h, w) on the backbone, or point '
        '`stage_sources` at modules that output (B, C, H, W) maps or '
        f'(tokens, (h, w)) tuples, e.g. {stage_sources_hint(prefix)}.')
    try:
        other = [e for e in record_events(model, second) if e.name == source]
    except Exception as e:  # the model may accept only one size
        raise StageDiscoveryError(
            f'OFA-KD cannot tell the patch grid of the {num_tokens} tokens of '
            f'{source}: the model states none that fits, and a second dry '
            f'run at {second} to derive it failed ({type(e).__name__}: {e}). '
            + advice) from e
    if not other or other[0].output is None or \
            other[0].output.kind != 'tokens':
        raise StageDiscoveryError(
            f'OFA-KD cannot tell the patch grid of the {num_tokens} tokens of '
            f'{source}: its output at {second} is no token sequence. ' +
            advice)
    solutions = solve_token_grid((num_tokens, other[0].output.shape[1]),
                                 (image_hw, second))
    if len(solutions) != 1:
        raise StageDiscoveryError(
            f'OFA-KD cannot tell the patch grid of the {num_tokens} tokens of '
            f'{source}: dry runs at {image_hw} and {second} fit '
            f'{len(solutions)} grids {solutions[:3]}. ' + advice)
    (grid, extra), = solutions
    return TokenLayout(
        grid, extra, f'{extra} extra token(s) and grid {grid[0]}x{grid[1]} '
        f'from dry runs at {image_hw[0]}x{image_hw[1]} and '
        f'{second[0]}x{second[1]}')
