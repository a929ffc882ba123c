from .cycle_mlp import CycleMLP
from .resmlp import ResMLP

__all__ = ['CycleMLP', 'ResMLP']
