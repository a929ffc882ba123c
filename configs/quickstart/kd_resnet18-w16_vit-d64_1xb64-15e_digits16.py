# Quickstart vanilla KD (MMRazor KLDivergence, tau 4) from the CNN teacher to
# a 12-block ViT (width 64, patch 4: 4x4 grid + class token); the teacher is
# frozen in eval mode (FrozenTeacherDistill).
_base_ = [
    '../_base_/models/digits_nets.py',
    '_base_/digits16_adamw_15e.py',
    '../_base_/algorithms/kd.py',
]
# Written by tools/quickstart.py (or train
# configs/quickstart/resnet18-w16_1xb64-20e_digits16.py).
teacher_ckpt = 'work_dirs/quickstart/teacher/epoch_20.pth'

model = dict(
    architecture=_base_.vit_d64_16px,
    teacher=_base_.resnet18_w16,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(distill_losses=dict(loss_kl=dict(tau=4))))
