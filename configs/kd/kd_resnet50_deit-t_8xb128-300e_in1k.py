_base_ = [
    '../_base_/recipes/in1k_vit_8xb128-300e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/resnet50_in1k.py.
teacher_ckpt = 'checkpoints/resnet50_in1k.pth'

model = dict(
    architecture=_base_.deit_t,
    teacher=_base_.resnet50,
    teacher_ckpt=teacher_ckpt)
