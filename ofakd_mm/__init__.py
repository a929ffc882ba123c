"""ofakd_mm: OFA-KD heterogeneous knowledge distillation for MMRazor.

Importing the package applies :mod:`ofakd_mm.compat` (before mmrazor is
imported) and registers every component, so a config only needs
``custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)``.
"""
import warnings

# mmcv-lite has no compiled ops (nothing here uses the one it warns about);
# mmengine still imports pkg_resources, which setuptools<81 provides.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

from . import compat  # noqa: E402

compat.apply()

from . import datasets, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'datasets', 'models']
