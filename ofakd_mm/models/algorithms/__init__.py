from .frozen_teacher_distill import (FrozenTeacherDistill,
                                     load_teacher_checkpoint)
from .ofakd_distill import OFAKDDistill

__all__ = ['FrozenTeacherDistill', 'OFAKDDistill', 'load_teacher_checkpoint']
