from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .runtime_info_hook import BatchedRuntimeInfoHook, read_scalars
from .stages_hook import OFAKDStagesHook
from .student_ema_hook import StudentEMAHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'BatchedRuntimeInfoHook',
    'OFAKDStagesHook', 'StudentEMAHook', 'read_scalars'
]
