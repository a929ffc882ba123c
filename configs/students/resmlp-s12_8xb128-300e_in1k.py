# ResMLP-S12 trained from scratch with the official recipe: the baseline of
# the distillation configs.
_base_ = [
    '../_base_/models/resmlp-s12_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e_crop0.875-test.py',
]
