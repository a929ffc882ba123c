_base_ = [
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
    '../_base_/algorithms/dkd_in1k.py',
]
# See configs/teachers/mixer-b16_in1k.py.
teacher_ckpt = 'checkpoints/mixer-b16_in1k.pth'

model = dict(
    architecture=_base_.mobilenet_v2,
    teacher=_base_.mixer_b16,
    teacher_ckpt=teacher_ckpt)
