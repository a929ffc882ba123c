from .logits_recorder import OFAKDLogitsRecorder, mean_logits
from .ofakd_distiller import OFAKDDistiller, ofakd_distill_building

__all__ = [
    'OFAKDDistiller', 'OFAKDLogitsRecorder', 'mean_logits',
    'ofakd_distill_building'
]
