_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
    '../_base_/algorithms/dkd_cifar100.py',
]
# See configs/teachers/mixer-b16_cifar100.py.
teacher_ckpt = 'checkpoints/mixer-b16_cifar100.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/swin-p_cifar100.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/mixer-b16_cifar100.py'),
    teacher_ckpt=teacher_ckpt)
