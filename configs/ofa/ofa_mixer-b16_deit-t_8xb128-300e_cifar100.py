# eps 1.0, the official default (`--ofa-eps 1`): no value is published for
# this pair (the paper's values lie in [1.0, 1.5]).
_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
    '../_base_/algorithms/ofa_cifar100.py',
]
# See configs/teachers/mixer-b16_cifar100.py.
teacher_ckpt = 'checkpoints/mixer-b16_cifar100.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/deit-t_cifar100.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/mixer-b16_cifar100.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(eps=1.0))
