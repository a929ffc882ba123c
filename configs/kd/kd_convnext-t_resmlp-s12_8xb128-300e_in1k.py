_base_ = [
    '../_base_/recipes/in1k_vit-distill_8xb128-300e_crop0.875-test.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/convnext-t_in1k.py.
teacher_ckpt = 'checkpoints/convnext-t_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/resmlp-s12_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/convnext-t_in1k.py'),
    teacher_ckpt=teacher_ckpt)
