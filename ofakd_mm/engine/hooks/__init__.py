from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .stages_hook import OFAKDStagesHook
from .student_ema_hook import StudentEMAHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'OFAKDStagesHook',
    'StudentEMAHook'
]
