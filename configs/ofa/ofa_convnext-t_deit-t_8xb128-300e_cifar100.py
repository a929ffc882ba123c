# eps 1.0: the paper does not state it for this pair (range 1.0-1.5).
_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
    '../_base_/algorithms/ofa_cifar100.py',
]
# See configs/teachers/convnext-t_cifar100.py.
teacher_ckpt = 'checkpoints/convnext-t_cifar100.pth'

model = dict(
    architecture=_base_.deit_t,
    teacher=_base_.convnext_t,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(eps=1.0))
