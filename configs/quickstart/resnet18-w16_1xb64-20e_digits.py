# The digits CNN teacher, trained on the whole train split (1,078 images):
# what a distillation config's `teacher_ckpt` points at.
_base_ = [
    '../_base_/models/resnet18-w16_digits.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_sgd_20e.py',
    '../_base_/digits_runtime.py',
]
