"""Model configs by reference: ``dict(cfg_path=..., **overrides)``.

Distillation configs name their student and teacher the way MMRazor's own
configs do, by the config file that defines the classifier::

    architecture=dict(cfg_path='ofakd_mm::_base_/models/resnet18_in1k.py'),
    teacher=dict(cfg_path='mmpretrain::deit/deit-tiny_4xb256_in1k.py'),

so that a dumped config holds one ``model`` and no copies of the classifier
definitions. :func:`resolve_model_cfg` turns such a reference into the
classifier's own ``model`` dict, with the other keys of the reference merged
into it (``backbone=dict(drop_path_rate=0.)``, ``_delete_=True`` included).
"""
import copy
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config, ConfigDict
from mmengine.utils import is_installed

#: What a classifier's input normalisation is made of: the part of a config
#: file's top-level ``data_preprocessor`` that a referenced model keeps
#: (batch augments and ``num_classes`` belong to the run, not the model).
_NORMALISATION_KEYS = ('type', 'mean', 'std', 'to_rgb', 'to_bgr')
#: The package prefix of this repository's configs in a ``cfg_path``.
PACKAGE = 'ofakd_mm'


def configs_root() -> str:
    """Directory holding ofakd_mm's configs: ``ofakd_mm/.mim/configs`` of an
    installed package (copied by ``pip install .``, linked by ``pip install
    -e .``), else ``configs/`` of the source tree."""
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    installed = osp.join(package_dir, '.mim', 'configs')
    if osp.isdir(installed):
        return installed
    return osp.join(osp.dirname(package_dir), 'configs')


def config_file(cfg_path: str) -> str:
    """Absolute file of a ``cfg_path``: ``ofakd_mm::REL`` (this repository's
    ``configs/REL``), ``PACKAGE::REL`` of another installed OpenMMLab package
    (e.g. ``mmpretrain::resnet/resnet18_8xb32_in1k.py``), or an absolute
    file path, such as ``'{{fileDirname}}/net.py'``: mmengine replaces
    ``{{fileDirname}}`` with the folder of the config file that contains it,
    as it resolves ``_base_``. A relative path is refused: once the config
    is read, the file it was written in is not known, and the working
    directory would decide which file it names.

    Args:
        cfg_path (str): The reference.

    Returns:
        str: The config file, which exists.
    """
    if '::' in cfg_path:
        package, rel = cfg_path.split('::', 1)
        if package == PACKAGE:
            path = osp.join(configs_root(), rel)
        else:
            if not is_installed(package):
                raise FileNotFoundError(
                    f'cfg_path {cfg_path!r} names package {package!r}, '
                    'which is not installed: install it or point `cfg_path` '
                    'at a config file.')
            from mmengine.hub import get_config
            return get_config(cfg_path).filename
    else:
        path = osp.expanduser(cfg_path)
        if not osp.isabs(path):
            raise ValueError(
                f'cfg_path {cfg_path!r} is relative. Write it as '
                f"'{{{{fileDirname}}}}/{cfg_path}' (mmengine puts the folder "
                'of the config file that contains it there), an absolute '
                "path, or 'ofakd_mm::<path under configs/>'.")
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'cfg_path {cfg_path!r}: no config file at {path}. Use '
            "'ofakd_mm::<path under configs/>', 'mmpretrain::<path under "
            "mmpretrain's configs/>' or a file path.")
    return path


def resolve_model_cfg(cfg: Any) -> Any:
    """The model dict a ``dict(cfg_path=..., **overrides)`` reference stands
    for; any other value is returned unchanged.

    The referenced file's ``model`` is taken, with the file's top-level
    ``data_preprocessor`` normalisation (mean, std, channel order) moved into
    it when it has none, as ``mmengine.hub.get_model`` does, so that a teacher
    keeps the normalisation its weights expect, and ``_scope_`` set to the
    file's ``default_scope`` (or ``mmpretrain``); then ``overrides`` are
    merged in.

    Args:
        cfg (dict | Any): A model config, possibly a reference.

    Returns:
        dict | Any: A plain model config (a new dict), or ``cfg`` itself.
    """
    if not isinstance(cfg, dict) or 'cfg_path' not in cfg:
        return cfg
    overrides = copy.deepcopy(dict(cfg))
    cfg_path = overrides.pop('cfg_path')
    if overrides.pop('pretrained', False):
        raise ValueError(
            f'cfg_path {cfg_path!r} with pretrained=True: ofakd_mm loads '
            'weights only from an explicit checkpoint; set `teacher_ckpt` '
            '(teacher) or `init_cfg=dict(type=\'Pretrained\', checkpoint=...)`'
            ' (student) instead.')
    file_cfg = Config.fromfile(config_file(cfg_path))
    model: Optional[Dict] = file_cfg.get('model')
    if not isinstance(model, dict):
        raise KeyError(f'cfg_path {cfg_path!r} defines no `model` dict.')
    model = ConfigDict(copy.deepcopy(model.to_dict()))
    preprocessor = file_cfg.get('data_preprocessor')
    if 'data_preprocessor' not in model and preprocessor is not None:
        model['data_preprocessor'] = {
            k: copy.deepcopy(v)
            for k, v in preprocessor.items() if k in _NORMALISATION_KEYS
        }
    model.setdefault('_scope_', file_cfg.get('default_scope', 'mmpretrain'))
    merged = Config(dict(model=model))
    merged.merge_from_dict(dict(model=overrides), allow_list_keys=True)
    return merged.model.to_dict()
