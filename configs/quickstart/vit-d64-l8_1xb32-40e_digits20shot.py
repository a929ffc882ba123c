# The digits ViT student (8 layers, width 64) trained from scratch on 20
# images per class: the baseline of the KD and OFA-KD configs. lr 1e-3: the
# best of 5e-4 / 1e-3 / 2e-3 / 4e-3 for this run on the validation split
# (2e-3 for every other digits student run).
_base_ = [
    '../_base_/models/vit-d64-l8_digits.py',
    '../_base_/datasets/digits20shot_bs32.py',
    '../_base_/schedules/digits_adamw_40e.py',
    '../_base_/digits_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
