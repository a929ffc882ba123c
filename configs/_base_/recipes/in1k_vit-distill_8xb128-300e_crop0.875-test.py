# in1k_vit_8xb128-300e_crop0.875-test.py for distillation: the EMA averages
# the student only, as the official code.
_base_ = './in1k_vit_8xb128-300e_crop0.875-test.py'

custom_hooks = [
    dict(type='StudentEMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
]
