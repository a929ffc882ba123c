# OFA-KD (Hao et al., NeurIPS 2023) from the digits CNN teacher to the
# MLP-Mixer student (8 layers, width 64), on 20 images per class, with the
# paper's defaults (eps 1, temperature 1, exits after stages 1-4, all
# weights 1).
_base_ = [
    '../_base_/datasets/digits20shot_bs32.py',
    '../_base_/schedules/digits_adamw_40e.py',
    '../_base_/digits_runtime.py',
    '../_base_/algorithms/ofa.py',
]
# Train the teacher with resnet18-w16_1xb64-20e_digits.py (tools/quickstart.py
# does, into work_dirs/quickstart/teacher).
teacher_ckpt = 'work_dirs/resnet18-w16_1xb64-20e_digits/epoch_20.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/mixer-d64-l8_digits.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/resnet18-w16_digits.py'),
    teacher_ckpt=teacher_ckpt,
    input_size=16)
