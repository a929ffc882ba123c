_base_ = [
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
    '../_base_/algorithms/dkd_in1k.py',
]
# See configs/teachers/resnet34_in1k.py.
teacher_ckpt = 'checkpoints/resnet34_in1k.pth'

model = dict(
    architecture=_base_.resnet18,
    teacher=_base_.resnet34,
    teacher_ckpt=teacher_ckpt)
