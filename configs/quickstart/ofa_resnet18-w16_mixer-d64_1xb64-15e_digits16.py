# Quickstart OFA-KD from the CNN teacher to
# a 12-block MLP-Mixer (width 64, patch 4: 16 tokens).
_base_ = [
    '../_base_/models/digits_nets.py',
    '_base_/digits16_adamw_15e.py',
    '../_base_/algorithms/ofa.py',
]
# Written by tools/quickstart.py (or train
# configs/quickstart/resnet18-w16_1xb64-20e_digits16.py).
teacher_ckpt = 'work_dirs/quickstart/teacher/epoch_20.pth'

model = dict(
    architecture=_base_.mixer_d64_16px,
    teacher=_base_.resnet18_w16,
    teacher_ckpt=teacher_ckpt,
    input_size=16)
