_base_ = [
    '../_base_/recipes/cifar100_cnn_8xb128-300e.py',
    '../_base_/algorithms/dkd_cifar100.py',
]
# See configs/teachers/vit-s_cifar100.py.
teacher_ckpt = 'checkpoints/vit-s_cifar100.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/mobilenet-v2_cifar100.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/vit-s_cifar100.py'),
    teacher_ckpt=teacher_ckpt)
