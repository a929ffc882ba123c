"""``mmcls`` resolves to mmpretrain wherever MMRazor uses it.

mmpretrain is mmcls 1.x renamed, and MMRazor 1.0.0 still names mmcls: its
classification configs use ``mmcls::`` bases and model files, ``mmcls.``
types and ``_scope_='mmcls'``, and its code imports mmcls for
``KDSoftCELoss``'s soft cross-entropy, ``DeiTClsHead``'s base class,
``PackCRDClsInputs``'s base class and data sample, its demo inputs, tracers
and searchable backbones (a placeholder that fails on first use when the
import fails). With no mmcls installed, these three patches make each of
them name mmpretrain instead; with a real mmcls installed none is applied,
and an mmcls installed later in the process is imported before the alias.

- :func:`alias_mmcls_modules`: ``import mmcls.X`` gives a module that
  stands for ``mmpretrain.X`` (the same objects; the two classes mmpretrain
  renamed, ``ClsDataSample`` and ``PackClsInputs``, also under their mmcls
  names). Applied before mmrazor is imported, so MMRazor's own imports
  succeed and its classes derive from mmpretrain's.
- :func:`alias_mmcls_scope`: the registry scope ``mmcls`` is mmpretrain's
  (``_scope_='mmcls'``, ``default_scope='mmcls'``, ``type='mmcls.X'``),
  and ``PackClsInputs`` is a registered name of mmpretrain's ``PackInputs``.
- :func:`alias_mmcls_configs`: ``mmcls::PATH`` (bases and MMRazor's
  ``cfg_path``) is mmpretrain's config ``PATH``, or its new name for the
  files mmpretrain renamed (:data:`RENAMED_CONFIGS`).
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Callable, List, Optional, Tuple

MMCLS = 'mmcls'
MMPRETRAIN = 'mmpretrain'
#: Classes of mmcls 1.0.0rc6 that mmpretrain 1.2.0 renamed (mmcls name ->
#: mmpretrain name), found under both names in the ``mmcls`` modules.
RENAMED_NAMES = {'ClsDataSample': 'DataSample', 'PackClsInputs': 'PackInputs'}
#: Config files of mmcls 1.0.0rc6 (the configs MMRazor 1.0.0 was written
#: for) that mmpretrain 1.2.0 ships under another name; every other file
#: keeps its path.
RENAMED_CONFIGS = {
    'beit/beit-base-p16_8xb64_in1k.py':
    'beit/benchmarks/beit-base-p16_8xb64_in1k.py',
    'beitv2/beitv2-base-p16_8xb64_in1k.py':
    'beitv2/benchmarks/beit-base-p16_8xb64_in1k.py',
    'deit/deit-base-distilled_ft-16xb32_in1k-384px.py':
    'deit/deit-base-distilled_16xb32_in1k-384px.py',
    'deit/deit-base-distilled_pt-16xb64_in1k.py':
    'deit/deit-base-distilled_16xb64_in1k.py',
    'deit/deit-base_ft-16xb32_in1k-384px.py':
    'deit/deit-base_16xb32_in1k-384px.py',
    'deit/deit-base_pt-16xb64_in1k.py': 'deit/deit-base_16xb64_in1k.py',
    'deit/deit-small-distilled_pt-4xb256_in1k.py':
    'deit/deit-small-distilled_4xb256_in1k.py',
    'deit/deit-small_pt-4xb256_in1k.py': 'deit/deit-small_4xb256_in1k.py',
    'deit/deit-tiny-distilled_pt-4xb256_in1k.py':
    'deit/deit-tiny-distilled_4xb256_in1k.py',
    'deit/deit-tiny_pt-4xb256_in1k.py': 'deit/deit-tiny_4xb256_in1k.py',
    'mixmim/mixmim-base_8xb64_in1k.py':
    'mixmim/benchmarks/mixmim-base_8xb64_in1k.py',
    'swin_transformer/swin-large_8xb8_cub_384px.py':
    'swin_transformer/swin-large_8xb8_cub-384px.py',
    'vision_transformer/vit-base-p16_ft-4xb544-ipu_in1k.py':
    'vision_transformer/vit-base-p16_4xb544-ipu_in1k.py',
    'vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py':
    'vision_transformer/vit-base-p16_64xb64_in1k-384px.py',
    'vision_transformer/vit-base-p16_pt-32xb128-mae_in1k-224.py':
    'vision_transformer/vit-base-p16_32xb128-mae_in1k.py',
    'vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py':
    'vision_transformer/vit-base-p16_64xb64_in1k.py',
    'vision_transformer/vit-base-p32_ft-64xb64_in1k-384.py':
    'vision_transformer/vit-base-p32_64xb64_in1k-384px.py',
    'vision_transformer/vit-base-p32_pt-64xb64_in1k-224.py':
    'vision_transformer/vit-base-p32_64xb64_in1k.py',
    'vision_transformer/vit-large-p16_ft-64xb64_in1k-384.py':
    'vision_transformer/vit-large-p16_64xb64_in1k-384px.py',
    'vision_transformer/vit-large-p16_pt-64xb64_in1k-224.py':
    'vision_transformer/vit-large-p16_64xb64_in1k.py',
    'vision_transformer/vit-large-p32_ft-64xb64_in1k-384.py':
    'vision_transformer/vit-large-p32_64xb64_in1k-384px.py',
    'vision_transformer/vit-large-p32_pt-64xb64_in1k-224.py':
    'vision_transformer/vit-large-p32_64xb64_in1k.py',
}


#: Attributes the import system sets on a module: never read through.
_MODULE_IDENTITY = frozenset(('__path__', '__file__', '__cached__',
                              '__loader__', '__spec__', '__package__'))


class MMClsAlias(types.ModuleType):
    """The module ``mmcls.X``: it reads its attributes from ``mmpretrain.X``
    (the very same objects) and knows the classes of
    :data:`RENAMED_NAMES` under their mmcls names too.

    Args:
        name (str): ``mmcls`` or ``mmcls.X``.
        target (module): ``mmpretrain`` or ``mmpretrain.X``.
    """

    def __init__(self, name: str, target: types.ModuleType) -> None:
        super().__init__(name, f'Alias of {target.__name__} (ofakd_mm).')
        self.__dict__['__alias_of__'] = target

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__['__alias_of__']
        if name in _MODULE_IDENTITY:
            # the import system's own attributes: this module's, not the
            # mmpretrain module's (its __path__ would import mmpretrain's
            # files a second time, as mmcls.X)
            raise AttributeError(name)
        if hasattr(target, name):
            return getattr(target, name)
        if name in RENAMED_NAMES and hasattr(target, RENAMED_NAMES[name]):
            return getattr(target, RENAMED_NAMES[name])
        raise AttributeError(
            f'module {self.__name__!r} (ofakd_mm\'s alias of '
            f'{target.__name__!r}) has no attribute {name!r}')

    def __repr__(self) -> str:
        return (f'<module {self.__name__!r} (ofakd_mm alias of '
                f'{self.__dict__["__alias_of__"].__name__!r})>')

    def __dir__(self) -> List[str]:
        return sorted(set(dir(self.__dict__['__alias_of__'])) | set(
            self.__dict__))


class MMClsAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook, last on ``sys.meta_path``: ``mmcls`` and ``mmcls.X`` are
    :class:`MMClsAlias` modules of ``mmpretrain`` and ``mmpretrain.X``
    (ModuleNotFoundError where mmpretrain has no such module). Being last,
    it never hides a real mmcls."""

    def find_spec(
            self,
            fullname: str,
            path: Any = None,
            target: Any = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != MMCLS and not fullname.startswith(MMCLS + '.'):
            return None
        target_spec = importlib.util.find_spec(MMPRETRAIN +
                                               fullname[len(MMCLS):])
        if target_spec is None:
            return None
        # No origin: the alias is no file, and mmengine does not take
        # mmpretrain's directory for an installed mmcls package (config
        # files are mapped by alias_mmcls_configs). A package's submodules
        # come from this finder, not from a directory.
        return importlib.machinery.ModuleSpec(
            fullname,
            self,
            is_package=target_spec.submodule_search_locations is not None)

    def create_module(self,
                      spec: importlib.machinery.ModuleSpec) -> MMClsAlias:
        target = importlib.import_module(MMPRETRAIN + spec.name[len(MMCLS):])
        return MMClsAlias(spec.name, target)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module reads from its mmpretrain module."""


def _real_mmcls_spec() -> Optional[importlib.machinery.ModuleSpec]:
    """The spec of an installed mmcls, found by the import system without
    the alias."""
    module = sys.modules.get(MMCLS)
    if module is not None and not isinstance(module, MMClsAlias):
        return module.__spec__
    for finder in sys.meta_path:
        if isinstance(finder, MMClsAliasFinder) or not hasattr(
                finder, 'find_spec'):
            continue
        spec = finder.find_spec(MMCLS, None)
        if spec is not None:
            return spec
    return None


def mmcls_installed() -> bool:
    """Whether a real mmcls can be imported (then nothing is aliased)."""
    return _real_mmcls_spec() is not None


def _mmcls_placeholders() -> List[str]:
    """Names of mmrazor modules already imported whose mmcls imports failed:
    they hold mmrazor's placeholder for mmcls, which fails on first use."""
    stale = []
    for name, module in list(sys.modules.items()):
        if not name.startswith('mmrazor.'):
            continue
        for value in list(vars(module).values()):
            init = getattr(value, '__init__', None)
            if (isinstance(value, type) and value.__name__ == 'PlaceHolder'
                    and value.__module__ == 'mmrazor.utils.placeholder'
                    and MMCLS in [
                        c.cell_contents for c in init.__closure__ or ()
                    ]):
                stale.append(name)
                break
    return sorted(stale)


def alias_mmcls_modules() -> bool:
    """Install :class:`MMClsAliasFinder` (see the module docstring).

    Raises:
        ImportError: If mmrazor modules were imported before ofakd_mm and
            hold mmrazor's placeholder for mmcls: they cannot be fixed in
            this process.

    Returns:
        bool: Whether it was installed (False with a real mmcls, or when it
        is installed already).
    """
    if any(isinstance(f, MMClsAliasFinder) for f in sys.meta_path):
        return False
    if mmcls_installed():
        return False
    stale = _mmcls_placeholders()
    if stale:
        raise ImportError(
            'mmrazor was imported before ofakd_mm, without mmcls: '
            f'{", ".join(stale)} hold mmrazor\'s placeholder for mmcls '
            '(DeiTClsHead, KDSoftCELoss, PackCRDClsInputs, ... fail on first '
            'use). Import ofakd_mm before mmrazor (in a new process), so '
            'that mmcls names mmpretrain.')
    sys.meta_path.append(MMClsAliasFinder())
    return True


def _mmpretrain_scope(scope: Optional[str]) -> Optional[str]:
    return MMPRETRAIN if scope == MMCLS else scope


def alias_mmcls_scope() -> bool:
    """Make the registry scope ``mmcls`` mmpretrain's: mmengine's
    ``DefaultScope`` (``_scope_``, ``default_scope``) and
    ``Registry.split_scope_key`` (``type='mmcls.X'``) read ``mmcls`` as
    ``mmpretrain``; register mmpretrain's ``PackInputs`` as
    ``PackClsInputs`` (mmcls's name, used by MMRazor's dataset configs).

    Returns:
        bool: Whether it was applied (False with a real mmcls, or when it is
        applied already).
    """
    from mmengine.registry import DefaultScope, Registry
    from mmpretrain.datasets.transforms import PackInputs
    from mmpretrain.registry import TRANSFORMS
    if mmcls_installed() or Registry.split_scope_key(
            f'{MMCLS}.X')[0] == MMPRETRAIN:
        return False
    original_init: Callable = DefaultScope.__init__
    original_split: Callable = Registry.split_scope_key

    def __init__(self: Any, name: str, scope_name: str) -> None:
        original_init(self, name, _mmpretrain_scope(scope_name))

    def split_scope_key(key: str) -> Tuple[Optional[str], str]:
        scope, real_key = original_split(key)
        return _mmpretrain_scope(scope), real_key

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    split_scope_key.__wrapped__ = original_split  # type: ignore
    DefaultScope.__init__ = __init__
    Registry.split_scope_key = staticmethod(split_scope_key)
    for old, new in RENAMED_NAMES.items():
        if new == PackInputs.__name__ and TRANSFORMS.get(old) is None:
            TRANSFORMS.register_module(name=old, module=PackInputs)
    return True


def alias_mmcls_configs() -> bool:
    """Make ``mmcls::PATH`` name mmpretrain's config ``PATH`` (or
    :data:`RENAMED_CONFIGS` ``[PATH]``) for mmengine's ``Config`` (bases)
    and ``mmengine.hub`` (MMRazor's ``cfg_path``), instead of failing with
    ``mmcls is not installed`` or pip-installing mmcls 0.x at run time.

    Returns:
        bool: Whether it was applied (False with a real mmcls, or when it is
        applied already).
    """
    import mmengine.config.config as config_module
    import mmengine.hub.hub as hub_module
    if mmcls_installed() or getattr(config_module._get_package_and_cfg_path,
                                    '_ofakd_mmcls', False):
        return False
    original: Callable = config_module._get_package_and_cfg_path

    def _get_package_and_cfg_path(cfg_path: str) -> Tuple[str, str]:
        package, sep, path = cfg_path.partition('::')
        if sep and package == MMCLS:
            cfg_path = f'{MMPRETRAIN}::{RENAMED_CONFIGS.get(path, path)}'
        return original(cfg_path)

    _get_package_and_cfg_path.__wrapped__ = original  # type: ignore
    _get_package_and_cfg_path._ofakd_mmcls = True  # type: ignore
    config_module._get_package_and_cfg_path = _get_package_and_cfg_path
    hub_module._get_package_and_cfg_path = _get_package_and_cfg_path
    return True
