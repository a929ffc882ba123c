_base_ = [
    '../_base_/recipes/in1k_vit-distill_8xb128-300e.py',
    '../_base_/algorithms/dkd_in1k.py',
]
# See configs/teachers/resnet50_in1k.py.
teacher_ckpt = 'checkpoints/resnet50_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/deit-t_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/resnet50_in1k.py'),
    teacher_ckpt=teacher_ckpt)
