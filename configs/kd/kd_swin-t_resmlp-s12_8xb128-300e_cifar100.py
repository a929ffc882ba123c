_base_ = [
    '../_base_/recipes/cifar100_vit_8xb128-300e_crop0.875-test.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/swin-t_cifar100.py.
teacher_ckpt = 'checkpoints/swin-t_cifar100.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/resmlp-s12_cifar100.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/swin-t_cifar100.py'),
    teacher_ckpt=teacher_ckpt)
