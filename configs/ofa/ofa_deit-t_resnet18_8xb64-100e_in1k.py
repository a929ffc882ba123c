_base_ = [
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
    '../_base_/algorithms/ofa.py',
]
# See configs/teachers/deit-t_in1k.py.
teacher_ckpt = 'checkpoints/deit-t_in1k.pth'

model = dict(
    architecture=_base_.resnet18,
    teacher=_base_.deit_t,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(eps=1.5))
