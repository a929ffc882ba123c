from .cycle_mlp import CycleMLP
from .resmlp import ResMLP
from .swin_archs import SWIN_OFAKD_ARCHS

__all__ = ['CycleMLP', 'ResMLP', 'SWIN_OFAKD_ARCHS']
