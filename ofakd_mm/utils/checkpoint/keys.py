"""Key prefixes of the state dicts this package reads and writes: the one
place that names them."""

#: The student's keys in the state dict of an MMRazor algorithm
#: (``BaseAlgorithm.architecture``).
STUDENT_PREFIX = 'architecture.'
#: The teacher's keys (``SingleTeacherDistill.teacher``).
TEACHER_PREFIX = 'teacher.'
#: The distiller's keys (projectors, losses with state).
DISTILLER_PREFIX = 'distiller.'
#: The prefixes of a distillation checkpoint's ``state_dict``.
DISTILL_PREFIXES = (STUDENT_PREFIX, TEACHER_PREFIX, DISTILLER_PREFIX)
#: What mmengine's ``ExponentialMovingAverage`` puts before the averaged
#: model's keys in ``ema_state_dict`` (its attribute ``module``).
EMA_PREFIX = 'module.'
#: What a ``DistributedDataParallel`` wrapper puts before the model's keys
#: when its own ``state_dict`` is saved (its attribute ``module``).
DDP_PREFIX = 'module.'
