from .ofakd_projector import (OFAKDConvProjector, OFAKDTokenProjector,
                              SeparableDownsample, init_projector_weights,
                              merge_steps)

__all__ = [
    'OFAKDConvProjector', 'OFAKDTokenProjector', 'SeparableDownsample',
    'init_projector_weights', 'merge_steps'
]
