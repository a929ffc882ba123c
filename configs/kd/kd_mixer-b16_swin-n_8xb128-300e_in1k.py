_base_ = [
    '../_base_/recipes/in1k_vit-distill_8xb128-300e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/mixer-b16_in1k.py.
teacher_ckpt = 'checkpoints/mixer-b16_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/swin-n_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/mixer-b16_in1k.py'),
    teacher_ckpt=teacher_ckpt)
