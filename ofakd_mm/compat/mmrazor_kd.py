"""What MMRazor 1.0.0's own distillation configs need beyond the ``mmcls``
alias, on mmpretrain 1.2 and in a single process.

- :func:`patch_deit_head`: mmrazor's ``DeiTClsHead`` unpacks mmcls's
  distilled ViT output ``(patch tokens, class token, distillation token)``;
  mmpretrain's returns ``(class token, distillation token)``.
- :func:`patch_image_classifier_preprocessor`: mmpretrain's
  ``ImageClassifier`` defaults its data preprocessor to the unscoped type
  ``ClsDataPreprocessor`` (mmcls wrote ``mmcls.ClsDataPreprocessor``), which
  is looked up in the scope the classifier is built in: MMRazor builds it
  in ``mmrazor`` (``type='mmcls.ImageClassifier'``, BYOT), where it does not
  exist.
- :func:`patch_datafree_generator`: MMRazor's data-free algorithms (DAFL,
  DFAD, ZSKT) read ``self.generator.module.latent_dim``, which exists only
  when DDP wraps the generator.
"""
import functools
import inspect
from types import SimpleNamespace
from typing import Any, Callable

import torch

#: The default data preprocessor type, with the scope that finds it from
#: any registry scope.
SCOPED_PREPROCESSOR = 'mmpretrain.ClsDataPreprocessor'


def _reads_class_and_distillation_token(pre_logits: Callable) -> bool:
    """Whether a DeiT head's ``pre_logits`` takes mmpretrain's distilled ViT
    output, ``(class token, distillation token)`` per stage."""
    cls_token, dist_token = torch.zeros(1, 2), torch.ones(1, 2)
    try:
        out = pre_logits(SimpleNamespace(hidden_dim=None),
                         [(cls_token, dist_token)])
    except ValueError:  # not enough values to unpack (expected 3, got 2)
        return False
    return out[0] is cls_token and out[1] is dist_token


def patch_deit_head() -> bool:
    """Give mmrazor's ``DeiTClsHead`` the ``pre_logits`` of mmpretrain's own
    ``DeiTClsHead``, which takes both layouts (mmrazor's head differs from
    mmpretrain's in ``forward`` only: it returns the class-token logits and
    runs ``head_dist`` for a recorder).

    Returns:
        bool: Whether it was applied (False when mmrazor's head is built on
        a real mmcls, or takes mmpretrain's output already).
    """
    from mmpretrain.models.heads import DeiTClsHead as MMPretrainDeiTClsHead
    from mmpretrain.models.heads import VisionTransformerClsHead
    from mmrazor.models.architectures.heads import DeiTClsHead
    if (not issubclass(DeiTClsHead, VisionTransformerClsHead)
            or _reads_class_and_distillation_token(DeiTClsHead.pre_logits)):
        return False
    DeiTClsHead.pre_logits = MMPretrainDeiTClsHead.pre_logits
    return True


class _DefaultType(Exception):
    """Carries the data preprocessor type a classifier defaults to."""


class _DefaultTypeProbe(dict):
    """A ``data_preprocessor`` without ``type`` that reports the default
    type the classifier sets, before anything is built."""

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key == 'type':
            raise _DefaultType(default)
        return super().setdefault(key, default)


def default_preprocessor_type(classifier: type) -> str:
    """The data preprocessor type ``classifier`` sets when its
    ``data_preprocessor`` has none (read without building anything)."""
    try:
        classifier(
            backbone=torch.nn.Identity(),
            data_preprocessor=_DefaultTypeProbe(probe=True))
    except _DefaultType as default:
        return default.args[0]
    raise TypeError(f'{classifier.__name__} set no data preprocessor type.')


def patch_image_classifier_preprocessor() -> bool:
    """Make mmpretrain's ``ImageClassifier`` default its data preprocessor
    type to ``mmpretrain.ClsDataPreprocessor`` (the same class, found from
    any scope) when the given ``data_preprocessor`` has no ``type``.

    Returns:
        bool: Whether it was applied (False where the default type has a
        scope already, or when it is applied).
    """
    from mmpretrain.models.classifiers import ImageClassifier
    if getattr(ImageClassifier.__init__, '_ofakd_scoped', False) or (
            '.' in default_preprocessor_type(ImageClassifier)):
        return False
    original: Callable = ImageClassifier.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        preprocessor = bound.arguments.get('data_preprocessor')
        if preprocessor is None:
            preprocessor = {}
        if isinstance(preprocessor, dict) and 'type' not in preprocessor:
            bound.arguments['data_preprocessor'] = dict(
                preprocessor, type=SCOPED_PREPROCESSOR)
        original(*bound.args, **bound.kwargs)

    __init__._ofakd_scoped = True  # type: ignore[attr-defined]
    ImageClassifier.__init__ = __init__
    return True


def _generator_itself(generator: torch.nn.Module) -> torch.nn.Module:
    """The generator, as DDP's ``.module`` gives it when DDP wraps it."""
    return generator


def patch_datafree_generator() -> bool:
    """Give MMRazor's generators a ``module`` property that returns the
    generator itself, so that ``self.generator.module`` is the generator in
    one process as it is under DDP (where ``self.generator`` is the DDP
    wrapper and ``.module`` its generator). It adds no parameter, buffer or
    state-dict key.

    Returns:
        bool: Whether it was applied (False if generators have ``module``).
    """
    from mmrazor.models.architectures.generators.base_generator import \
        BaseGenerator
    if hasattr(BaseGenerator, 'module'):
        return False
    BaseGenerator.module = property(
        _generator_itself,
        doc='The generator itself: ``self.generator.module`` of MMRazor\'s '
        'data-free algorithms, as under DDP (ofakd_mm.compat).')
    return True
