_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/convnext-t_cifar100.py.
teacher_ckpt = 'checkpoints/convnext-t_cifar100.pth'

model = dict(
    architecture=_base_.resmlp_s12,
    teacher=_base_.convnext_t,
    teacher_ckpt=teacher_ckpt)
