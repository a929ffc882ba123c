"""ofakd_mm: OFA-KD heterogeneous knowledge distillation for MMRazor.

Importing the package applies :mod:`ofakd_mm.compat` (before mmrazor is
imported) and registers every component, so a config only needs
``custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)``.
"""
import warnings

with warnings.catch_warnings():
    # Two warnings of the stack's own imports, silenced while this package
    # imports it (the filters are restored afterwards): mmcv-lite has no
    # compiled ops (nothing here uses MultiScaleDeformableAttention), and
    # mmengine still imports pkg_resources, which setuptools<81 provides.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

    from . import compat

    compat.apply()

    from . import datasets, engine, models  # noqa: F401

from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'datasets', 'engine', 'models']
