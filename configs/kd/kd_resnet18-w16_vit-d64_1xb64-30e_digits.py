# Vanilla logit KD (MMRazor KLDivergence, tau 4) from the digits CNN teacher
# to a small ViT; the teacher is frozen in eval mode (FrozenTeacherDistill).
_base_ = [
    '../_base_/models/digits_nets.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_adamw_30e.py',
    '../_base_/digits_runtime.py',
    '../_base_/algorithms/kd.py',
]
# Train the teacher with configs/teachers/resnet18-w16_1xb64-30e_digits.py.
teacher_ckpt = 'work_dirs/resnet18-w16_1xb64-30e_digits/epoch_30.pth'

model = dict(
    architecture=_base_.vit_d64,
    teacher=_base_.resnet18_w16,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(distill_losses=dict(loss_kl=dict(tau=4))))
