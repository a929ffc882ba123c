_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/convnext-t_cifar100.py.
teacher_ckpt = 'checkpoints/convnext-t_cifar100.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/swin-p_cifar100.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/convnext-t_cifar100.py'),
    teacher_ckpt=teacher_ckpt)
