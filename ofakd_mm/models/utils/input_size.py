"""Check ``OFAKDDistill.input_size`` against the image size that the train
pipeline produces: the projectors are built for ``input_size`` (a token
projector's patch merging depends on the grid), so the two must agree."""
from typing import Any, Dict, Optional, Sequence, Tuple

Grid = Tuple[int, int]

#: Transforms that fix the image size: (argument, order of a pair). mmcv's
#: ``Resize``/``CenterCrop`` take (w, h), mmpretrain's crops (h, w).
SIZE_TRANSFORMS: Dict[str, Tuple[str, str]] = {
    'RandomResizedCrop': ('scale', 'hw'),
    'EfficientNetRandomCrop': ('scale', 'hw'),
    'RandomCrop': ('crop_size', 'hw'),
    'EfficientNetCenterCrop': ('crop_size', 'hw'),
    'CenterCrop': ('crop_size', 'wh'),
    'Resize': ('scale', 'wh'),
}


def _size(value: Any, order: str) -> Optional[Grid]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2 and all(
            isinstance(v, int) for v in value):
        return (value[0], value[1]) if order == 'hw' else (value[1],
                                                           value[0])
    return None


def pipeline_image_size(
        pipeline: Sequence[Dict]) -> Optional[Tuple[Grid, str]]:
    """The (H, W) of the images a pipeline outputs, from its last transform
    that fixes the size.

    Args:
        pipeline (Sequence[dict]): Transform configs.

    Returns:
        tuple | None: ``((H, W), transform type)``, or None if no transform
        fixes the size (e.g. ``ResizeEdge`` alone, or ``keep_ratio=True``).
    """
    found = None
    for transform in pipeline or ():
        kind = str(transform.get('type', '')).split('.')[-1]
        if kind not in SIZE_TRANSFORMS or transform.get('keep_ratio'):
            continue
        arg, order = SIZE_TRANSFORMS[kind]
        size = _size(transform.get(arg), order)
        if size is not None:
            found = (size, kind)
    return found


def _train_pipeline(cfg: Any) -> Optional[Sequence[Dict]]:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset')
    while isinstance(dataset, dict):
        if dataset.get('pipeline') is not None:
            return dataset['pipeline']
        dataset = dataset.get('dataset')
    return cfg.get('train_pipeline')


def train_image_size(cfg: Any) -> Optional[Grid]:
    """The (H, W) of the training images of a full config: its
    ``model.input_size`` if set, else the size its train pipeline crops or
    resizes to (None if neither says).

    Args:
        cfg (Config | dict): A full config (``model``, ``train_dataloader``).

    Returns:
        tuple[int, int] | None: (H, W).
    """
    size = (cfg.get('model') or {}).get('input_size')
    if size is not None:
        return _size(tuple(size) if isinstance(size, list) else size, 'hw')
    found = pipeline_image_size(_train_pipeline(cfg))
    return None if found is None else found[0]


def check_input_size(cfg: Any) -> Optional[Grid]:
    """Raise unless an OFAKDDistill config's ``model.input_size`` is the
    image size of its train pipeline.

    Call it on a loaded config before building the runner (as
    ``tools/analysis/print_projectors.py`` does). Configs of other models,
    and pipelines without a fixed size, pass.

    Args:
        cfg (Config | dict): A full config (``model``, ``train_dataloader``).

    Returns:
        tuple[int, int] | None: The checked (H, W), or None if nothing was
        checked.

    Raises:
        ValueError: If the sizes differ; the message names ``input_size``
            and the value to set.
    """
    model = cfg.get('model') or {}
    if str(model.get('type', '')).split('.')[-1] != 'OFAKDDistill':
        return None
    found = pipeline_image_size(_train_pipeline(cfg))
    if found is None:
        return None
    (height, width), kind = found
    input_size = model.get('input_size', 224)
    given = _size(tuple(input_size) if isinstance(input_size, list) else
                  input_size, 'hw')
    if given != (height, width):
        value = height if height == width else (height, width)
        cli = str(height) if height == width else f'"({height},{width})"'
        raise ValueError(
            f'model.input_size={input_size!r} but the train pipeline ends '
            f'with {kind} to {height}x{width} (H x W) images: OFAKDDistill '
            'builds its projectors for `input_size` (the token projectors '
            f'merge patches by the grid), so set `input_size={value!r}` in '
            f'the model config (--cfg-options model.input_size={cli}).')
    return height, width
