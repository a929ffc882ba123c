_base_ = [
    '../_base_/recipes/in1k_vit-distill_8xb128-300e.py',
    '../_base_/algorithms/dkd_in1k.py',
]
# See configs/teachers/beitv2-b_in1k.py.
teacher_ckpt = 'checkpoints/beitv2-b_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/cyclemlp-b3_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/beitv2-b_in1k.py'),
    teacher_ckpt=teacher_ckpt)
