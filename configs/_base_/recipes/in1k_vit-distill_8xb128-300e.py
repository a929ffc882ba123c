# in1k_vit_8xb128-300e.py for distillation: the EMA averages the student
# only, as the official code (`ema.update(distiller.student)`), not the
# frozen teacher or the exit branches.
_base_ = './in1k_vit_8xb128-300e.py'

custom_hooks = [
    dict(type='StudentEMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
]
