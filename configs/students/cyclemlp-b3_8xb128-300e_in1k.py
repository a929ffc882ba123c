# CycleMLP-B3 trained from scratch: the baseline of the distillation configs.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.cyclemlp_b3
