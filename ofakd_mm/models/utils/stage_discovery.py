"""Dry runs that show OFA-KD what a classifier computes.

:func:`record_events` runs ``extract_feat`` once on zeros and records every
module call as a call tree: what each call returns (a feature map, a token
sequence, or neither, see :func:`parse_output`), which earlier call produced
its input, and the stages the backbone itself declares (each ``i in
out_indices`` or ``out_scales`` test its forward makes, and timm's
``feature_info``). :mod:`.stage_sources` chooses the four OFA-KD stages from
such a run.

:func:`token_layout` tells the patch grid and the number of extra (class,
distillation) tokens of a token sequence from what the model states
(``num_extra_tokens``, ``patch_resolution``, ``cls_token``...) or from the
token counts of dry runs at two input sizes, never from the count alone.
"""
import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

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
#: Backbone settings whose membership tests mark the stages it declares.
DECLARING_SETTINGS = ('out_indices', 'out_scales')

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


def _is_streams(output: Any) -> bool:
    """Several token sequences of one shape side by side (the two streams
    of a reversible block, ``RevVisionTransformer``)."""
    return (isinstance(output, (tuple, list)) and len(output) >= 2
            and all(isinstance(o, torch.Tensor) and o.dim() == 3
                    for o in output)
            and len({tuple(o.shape) for o in output}) == 1)


def stage_feature(output: Any) -> Any:
    """What an exit branch gets from a stage module's output: the output
    itself (a tensor, or a Swin-style ``(tokens, (h, w))`` tuple), or, for a
    block with several token streams, their concatenation (B, N, k * E)."""
    if _is_streams(output):
        return torch.cat(tuple(output), dim=-1)
    return output


def _tensors(output: Any) -> List[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for o in output for t in _tensors(o)]
    return []


@dataclass
class Output:
    """A module output as OFA-KD sees it.

    Args:
        kind (str): ``'map'`` (a 4-D feature map) or ``'tokens'`` (B, N, E).
        shape (tuple[int]): Shape of the feature (for token streams, of
            their concatenation).
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


def parse_output(output: Any, batch: int,
                 image_hw: Grid) -> Optional[Output]:
    """Read a module output as a feature map or a token sequence.

    Args:
        output: What the module returned: a tensor, a Swin-style
            ``(tokens, (h, w), ...)`` tuple, or token streams of one shape.
        batch (int): Batch size of the dry run (other leading sizes are
            windows or heads, not features).
        image_hw (tuple[int, int]): Input image size.

    Returns:
        Output | None: None for anything else (vectors, attention maps,
        several different features at once).
    """
    grid = None
    if _is_streams(output):
        first = output[0]
        output = torch.empty(
            (*first.shape[:-1], first.shape[-1] * len(output)),
            device='meta')
    elif isinstance(output, (tuple, list)):
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


def stride_of(output: Output, image_hw: Grid) -> int:
    """The down-sampling factor of a feature relative to the image."""
    size = output.size if output.grid is None else \
        output.grid[0] * output.grid[1]
    return max(1, round(math.sqrt(image_hw[0] * image_hw[1] / size)))


@dataclass
class Event:
    """One module call of a dry run.

    Args:
        name (str): Module name from the classifier root.
        parent (int, optional): Index of the call that made this one.
        leaf (bool): Whether the module has no children.
        weight_layers (int): Conv/Linear layers in the module.
        depth (int): Number of calls it is nested in.
        in_shape (tuple, optional): Shape of its input feature (token
            streams count as their concatenation).
        output (Output, optional): Its output, if a map or tokens.
        grids (tuple): Spatial grids its output states.
        end (int): Order of completion.
        children (list[int]): Indices of the calls it made, in order.
        inputs_from (list[int]): Calls whose output is (the very tensor
            object of) its first input, innermost first.
        input_changed (bool): Whether that tensor was changed in place
            since (a residual ``x += ...``).
        returned (bool): Whether its parent returns its output tensor.
        stateful (bool): Whether the module holds parameters or buffers.
        passthrough (bool): Whether it returned its input tensor itself
            (``nn.Identity``, dropout in eval mode).
    """
    name: str
    parent: Optional[int]
    leaf: bool
    weight_layers: int
    depth: int = 0
    in_shape: Optional[Tuple[int, ...]] = None
    output: Optional[Output] = None
    grids: Tuple[Grid, ...] = ()
    end: int = -1
    children: List[int] = field(default_factory=list)
    inputs_from: List[int] = field(default_factory=list)
    input_changed: bool = False
    returned: bool = False
    stateful: bool = False
    passthrough: bool = False

    @property
    def is_output_step(self) -> bool:
        """A step a backbone may apply to a stage's output without weight
        layers: a norm (or affine map), or an identity; not an activation.
        """
        return (not self.weight_layers and self.output is not None
                and self.in_shape is not None
                and (self.stateful or self.passthrough))

    @property
    def is_block(self) -> bool:
        """A shape-preserving module with weights (a residual, transformer
        or MLP block, a plain conv block)."""
        return (not self.leaf and self.output is not None
                and self.in_shape == self.output.shape
                and self.weight_layers >= 1)


@dataclass
class Declared:
    """A stage the backbone declares: one test ``index in <setting>`` its
    forward made (or a timm ``feature_info`` entry), and the call that had
    just finished (whose output the backbone holds)."""
    setting: str
    index: Any
    event: int


@dataclass
class DryRun:
    """The calls of one dry run of a classifier's feature extractor.

    Args:
        events (list[Event]): Calls in the order they start; the first is
            the feature extractor itself (for mmpretrain classifiers).
        image_hw (tuple[int, int]): The input size.
        prefix (str): Attribute of the classifier holding the feature
            extractor (``'backbone'``, ``'model'`` or ``''``).
        extractor (str): Class name of the feature extractor.
        declared (list[Declared]): The stages the backbone declares.
    """
    events: List[Event]
    image_hw: Grid
    prefix: str
    extractor: str
    declared: List[Declared] = field(default_factory=list)
    _calls: Dict[str, List[int]] = field(default_factory=dict, repr=False)

    def calls(self, name: str) -> List[int]:
        """Indices of the calls of module ``name``."""
        if not self._calls:
            for i, e in enumerate(self.events):
                self._calls.setdefault(e.name, []).append(i)
        return self._calls.get(name, [])

    def ancestors(self, index: int) -> List[int]:
        """Calls enclosing call ``index``, innermost first."""
        found = []
        parent = self.events[index].parent
        while parent is not None:
            found.append(parent)
            parent = self.events[parent].parent
        return found

    def previous_sibling(self, index: int) -> Optional[int]:
        """The call with a feature output made just before ``index`` by the
        same caller."""
        parent = self.events[index].parent
        if parent is None:
            return None
        siblings = self.events[parent].children
        before = [i for i in siblings[:siblings.index(index)]
                  if self.events[i].output is not None]
        return before[-1] if before else None

    def is_chain(self, index: int) -> bool:
        """Whether call ``index`` only chains its calls (a Sequential):
        each takes the unchanged output of the one before, and it returns
        the last one's."""
        children = [c for c in self.events[index].children
                    if self.events[c].output is not None]
        if not children or not self.events[children[-1]].returned:
            return False
        return all(a in self.events[b].inputs_from
                   and not self.events[b].input_changed
                   for a, b in zip(children, children[1:]))

    def enclosing_block(self, index: int) -> Optional[int]:
        """The innermost block (below the feature extractor, not a mere
        chain of calls) that call ``index`` is inside of without its output
        being the block's output: a tap there would see a residual
        sub-branch."""
        chain = [index]
        for parent in self.ancestors(index):
            event = self.events[parent]
            if event.name == self.prefix or event.parent is None:
                return None
            if event.is_block and not self.is_chain(parent) and not all(
                    self.events[c].returned for c in chain):
                return parent
            chain.append(parent)
        return None


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
        "config, e.g. stage_sources={1: 'layer1', 2: 'layer2', 3: 'layer3', "
        "4: 'layer4'}.")


def _input_feature(inputs: Tuple) -> Any:
    """The feature among a call's positional inputs: token streams, or the
    first tensor (or the tensor of a first ``(tensor, ...)`` input)."""
    tensors = [i for i in inputs if isinstance(i, torch.Tensor)]
    if len(tensors) == len(inputs) and _is_streams(tensors):
        return tensors
    for item in inputs:
        if isinstance(item, torch.Tensor):
            return item
        if isinstance(item, (tuple, list)) and item and isinstance(
                item[0], torch.Tensor):
            return item[0]
    return None


def _feature_shape(feature: Any) -> Optional[Tuple[int, ...]]:
    if _is_streams(feature):
        first = feature[0]
        return (*first.shape[:-1], first.shape[-1] * len(feature))
    return tuple(feature.shape) if isinstance(feature, torch.Tensor) else None


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


def _logging_setting(value: Union[list, tuple], setting: str,
                     log: List[Tuple[str, Any, int, int]],
                     counters: Dict[str, int]) -> Union[list, tuple]:
    """A stand-in for a backbone's ``out_indices``/``out_scales`` during a
    dry run: it answers membership tests as ``value`` does and logs each
    one with the numbers of calls finished and started by then."""
    base = type(value)

    class Logged(base):  # type: ignore

        def __contains__(self, item: Any) -> bool:
            log.append((setting, item, counters['finished'],
                        counters['started']))
            return base.__contains__(self, item)

    return Logged(value)


def _declared_by_tests(events: List[Event], log: List[Tuple[str, Any, int,
                                                            int]]
                       ) -> List[Declared]:
    """One :class:`Declared` per logged membership test: the call whose
    output the backbone holds at that point. That is the producer of the
    input of the next call if it finished before the test (a later call
    may be an output norm or a positional encoding), else the call that
    finished last."""
    by_end = {e.end: i for i, e in enumerate(events)}
    declared = []
    for setting, index, finished, started in log:
        if not finished:
            continue
        event = by_end[finished - 1]
        if started < len(events):
            earlier = [i for i in events[started].inputs_from
                       if events[i].end < finished]
            if earlier:
                event = max(earlier, key=lambda i: events[i].end)
        declared.append(Declared(setting, index, event))
    return declared


def _declared_by_feature_info(root: nn.Module, prefix: str,
                              events: List[Event]) -> List[Declared]:
    """timm's ``feature_info``: the modules a timm model names as its
    stages, by the last call of each."""
    info = getattr(root, 'feature_info', None)
    if not isinstance(info, (list, tuple)) and not hasattr(info, 'get_dicts'):
        return []
    entries = info.get_dicts() if hasattr(info, 'get_dicts') else info
    declared = []
    for k, entry in enumerate(entries):
        module = entry.get('module') if isinstance(entry, dict) else None
        name = '.'.join(p for p in (prefix, module) if p)
        calls = [i for i, e in enumerate(events) if e.name == name]
        if module and calls:
            declared.append(Declared('feature_info', k, calls[-1]))
    return declared


@torch.no_grad()
def record_events(model: nn.Module, input_size: InputSize,
                  batch: int = 2) -> DryRun:
    """Dry-run ``model.extract_feat`` on zeros (eval mode, no_grad) and
    record every module call of its feature extractor as a call tree, with
    the stages the backbone declares.

    Args:
        model (nn.Module): The classifier (on any device, ``meta`` too).
        input_size (int | tuple[int, int]): Image size (H, W).
        batch (int): Batch size; 2 tells batch from windows folded into it.

    Returns:
        DryRun: the calls in the order they start.
    """
    image_hw = as_hw(input_size)
    prefix, root, excluded = classifier_root(model)
    counts = _weight_layer_counts(root)
    events: List[Event] = []
    stack: List[int] = []
    counters = dict(started=0, finished=0)
    # id(tensor) -> (weak reference, calls that returned it, its in-place
    # version then): the run keeps no feature alive (tensors compare by
    # value, hence no WeakKeyDictionary)
    producers: Dict[int, Tuple[weakref.ref, List[int], int]] = {}

    def producers_of(tensor: Any) -> Tuple[List[int], int]:
        ref, calls, version = producers.get(id(tensor), (None, [], 0))
        if ref is None or ref() is not tensor:
            return [], 0
        return list(calls), version
    outputs: Dict[int, List[weakref.ref]] = {}
    handles = []

    def make_hooks(name: str, module: nn.Module):
        leaf = next(module.children(), None) is None
        stateful = next(module.parameters(), None) is not None or \
            next(module.buffers(), None) is not None

        def pre_hook(mod, inputs):
            parent = stack[-1] if stack else None
            feature = _input_feature(inputs)
            first = feature[0] if isinstance(feature, list) else feature
            calls, version = producers_of(first)
            event = Event(
                name, parent, leaf, counts.get(module, 0),
                depth=len(stack), in_shape=_feature_shape(feature),
                inputs_from=calls, input_changed=bool(
                    calls) and first._version != version, stateful=stateful)
            events.append(event)
            if parent is not None:
                events[parent].children.append(len(events) - 1)
            stack.append(len(events) - 1)
            counters['started'] += 1

        def hook(mod, inputs, output):
            index = stack.pop()
            event = events[index]
            # unfold gives (B, C * k * k, L): patches, not tokens yet
            event.output = None if isinstance(mod, nn.Unfold) else \
                parse_output(output, batch, image_hw)
            event.grids = _output_grids(output, image_hw)
            event.end = counters['finished']
            event.passthrough = output is _input_feature(inputs)
            counters['finished'] += 1
            returned = _tensors(output)
            for child in event.children:
                events[child].returned = any(
                    ref() is tensor for ref in outputs.pop(child, ())
                    for tensor in returned)
            outputs[index] = [weakref.ref(t) for t in returned]
            for tensor in returned:
                producers[id(tensor)] = (weakref.ref(tensor),
                                         producers_of(tensor)[0] + [index],
                                         tensor._version)

        return pre_hook, hook

    for name, module in root.named_modules():
        if name and name.split('.')[0] in excluded:
            continue
        full = '.'.join(p for p in (prefix, name) if p)
        pre_hook, hook = make_hooks(full, module)
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(hook))
    log: List[Tuple[str, Any, int, int]] = []
    settings = {
        s: getattr(root, s)
        for s in DECLARING_SETTINGS
        if type(getattr(root, s, None)) in (list, tuple)
    }
    device = next(model.parameters()).device
    x = torch.zeros(batch, 3, *image_hw, device=device)
    was_training = model.training
    model.eval()
    try:
        for setting, value in settings.items():
            setattr(root, setting,
                    _logging_setting(value, setting, log, counters))
        _extract_feat(model, x)
    finally:
        for setting, value in settings.items():
            setattr(root, setting, value)
        model.train(was_training)
        for handle in handles:
            handle.remove()
    declared = _declared_by_tests(events, log) or _declared_by_feature_info(
        root, prefix, events)
    return DryRun(events, image_hw, prefix, type(root).__name__, declared)


def _input_size(event: Event, image_hw: Grid) -> Optional[int]:
    if event.in_shape is None:
        return None
    parsed = parse_output(torch.empty(event.in_shape, device='meta'),
                          event.in_shape[0], image_hw)
    return parsed.size if parsed is not None else None


def ends_in_downsample(run: DryRun, index: int) -> Optional[int]:
    """If call ``index`` runs weighted calls at its input resolution and
    then down-samples as its last step (a stage that includes the next
    stage's downsample), the index of that last call, else None."""
    event = run.events[index]
    children = [c for c in event.children
                if run.events[c].output is not None]
    size_in = _input_size(event, run.image_hw)
    if len(children) < 2 or size_in is None:
        return None
    last = run.events[children[-1]]
    before = [run.events[c] for c in children[:-1]]
    if last.output.size >= DOWNSAMPLE_RATIO * size_in:
        return None
    if all(b.output.size >= DOWNSAMPLE_RATIO * size_in for b in before) \
            and any(b.weight_layers for b in before):
        return children[-1]
    return None


class _Walk:
    """The main path of a dry run: the calls the feature extractor makes,
    opened up where one call spans several resolutions or returns something
    that is no single feature (several branches)."""

    def __init__(self, run: DryRun, what: str,
                 hint: Callable[[], str] = str) -> None:
        self.run = run
        self.events = run.events
        self.image_hw = run.image_hw
        self.what = what
        self.hint = hint
        self.prefix = run.prefix
        self.calls: Dict[str, int] = {}
        for e in self.events:
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

    def flatten(self, indices: List[int]) -> List[int]:
        path: List[int] = []
        for i in indices:
            e = self.events[i]
            if e.children and self.must_open(e):
                path.extend(self.flatten(e.children))
            elif e.output is not None:
                path.append(i)
        return path

    def branch_error(self, event: Event) -> StageDiscoveryError:
        return StageDiscoveryError(
            f'OFA-KD cannot find the stages of {self.what}: {event.name} '
            'works at another resolution than the modules after it (several '
            f'branches at different resolutions). {self.hint()}')

    def levels(self) -> List[List[int]]:
        """Calls of the main path grouped by resolution, in order."""
        # The feature extractor's own call, or (timm's forward_features is
        # no module call) the calls made directly inside extract_feat.
        top = [i for i, e in enumerate(self.events) if e.parent is None]
        if len(top) == 1 and self.events[top[0]].name == self.prefix:
            top = self.events[top[0]].children
        path = self.flatten(top)
        # A call that later calls exceed in size is a detour (an unfold
        # before a token transformer); one with weights is a whole branch.
        main: List[int] = []
        later_max = 0
        for i in reversed(path):
            e = self.events[i]
            if SIZE_SLACK * e.output.size >= later_max:
                main.append(i)
            elif e.weight_layers:
                raise self.branch_error(e)
            later_max = max(later_max, e.output.size)
        levels: List[List[int]] = []
        for i in reversed(main):
            e = self.events[i]
            if levels:
                ref = self.events[levels[-1][0]].output.size
                if e.output.size > SIZE_SLACK * ref:
                    # the tail of the path (a pooling that yields (B, C, 1))
                    if e.weight_layers:
                        raise self.branch_error(e)
                    continue
                if e.output.size >= DOWNSAMPLE_RATIO * ref:
                    levels[-1].append(i)
                    continue
            levels.append([i])
        return levels

    def weight_layers(self, level: List[int]) -> int:
        return sum(self.events[i].weight_layers for i in level)

    def block_stack(self, level: List[int]) -> List[int]:
        """The blocks of a level at the depth where it has most (the
        ``layers.i`` of a ViT, the blocks inside one stage container)."""
        best = [i for i in level if self.events[i].is_block]
        for i in level:
            e = self.events[i]
            if e.is_block and e.children:
                inner = self.block_stack(
                    [c for c in e.children
                     if self.events[c].output is not None])
                if len(inner) > len(best):
                    best = inner
        return best

    def end_of(self, level: List[int]) -> int:
        """The last call of a level that runs once, before any output
        steps (norms, identities) that follow it."""
        once = [i for i in level if self.calls[self.events[i].name] == 1]
        candidates = once or level
        end = candidates[-1]
        for i in reversed(candidates[:-1]):
            e = self.events[end]
            if not e.is_output_step or e.in_shape != e.output.shape:
                break
            end = i
        return end


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


def declared_image_size(model: nn.Module) -> Optional[Grid]:
    """The image size the feature extractor states it was built for
    (``img_size``), if any."""
    value = getattr(classifier_root(model)[1], 'img_size', None)
    if isinstance(value, int):
        return value, value
    return _hw_pair(tuple(value)) if isinstance(value, (tuple, list)) \
        else None


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
                 run: Optional[DryRun] = None) -> TokenLayout:
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
        run (DryRun, optional): A dry run at ``input_size``.

    Returns:
        TokenLayout: The grid (h, w) with h * w + m = N, and m.
    """
    image_hw = as_hw(input_size)
    stated = declared_grid(model)
    if run is None:
        run = record_events(model, image_hw)
    ends = [e.end for e in run.events if e.name == source]
    before = sorted((e for e in run.events if ends and e.end < ends[0]),
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
    advice = (
        'Set `num_extra_tokens` (class/distillation tokens in front) and '
        '`patch_resolution` (h, w) on the backbone, or point '
        '`stage_sources` at modules that output (B, C, H, W) maps or '
        '(tokens, (h, w)) tuples.')
    with ErrorNote(
            f'OFA-KD cannot tell the patch grid of the {num_tokens} tokens of '
            f'{source} from what the model states, and tried a second dry '
            f'run at {second[0]}x{second[1]} to derive it. ' + advice):
        other = [e for e in record_events(model, second).events
                 if e.name == source]
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


class ErrorNote:
    """Context manager that adds ``note`` to any error raised inside it
    (``BaseException.add_note``): the error itself, its type, message and
    traceback, passes unchanged, with a line saying which dry run raised it
    and what could be the cause."""

    def __init__(self, note: str) -> None:
        self.note = note

    def __enter__(self) -> 'ErrorNote':
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, Exception):
            exc.add_note(self.note)
        return False
