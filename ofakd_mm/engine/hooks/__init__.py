from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .student_ema_hook import StudentEMAHook

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'StudentEMAHook']
