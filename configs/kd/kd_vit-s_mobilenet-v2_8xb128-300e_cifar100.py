_base_ = [
    '../_base_/recipes/cifar100_cnn_8xb128-300e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/vit-s_cifar100.py.
teacher_ckpt = 'checkpoints/vit-s_cifar100.pth'

model = dict(
    architecture=_base_.mobilenet_v2,
    teacher=_base_.vit_s,
    teacher_ckpt=teacher_ckpt)
