from .logits_recorder import OFAKDLogitsRecorder, mean_logits
from .ofakd_distiller import OFAKDDistiller, format_stage
from .stage_recorder import OFAKDStageRecorder

__all__ = [
    'OFAKDDistiller', 'OFAKDLogitsRecorder', 'OFAKDStageRecorder',
    'format_stage', 'mean_logits'
]
