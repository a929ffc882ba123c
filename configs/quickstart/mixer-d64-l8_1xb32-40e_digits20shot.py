# The digits MLP-Mixer student (8 layers, width 64) trained from scratch on
# 20 images per class: the baseline of the KD and OFA-KD configs.
_base_ = [
    '../_base_/models/mixer-d64-l8_digits.py',
    '../_base_/datasets/digits20shot_bs32.py',
    '../_base_/schedules/digits_adamw_40e.py',
    '../_base_/digits_runtime.py',
]
