from .student_ema_hook import StudentEMAHook

__all__ = ['StudentEMAHook']
