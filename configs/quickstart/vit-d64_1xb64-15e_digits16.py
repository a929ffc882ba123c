# Quickstart student from scratch: a 12-block ViT (width 64, patch 4: 4x4
# grid + class token).
_base_ = [
    '../_base_/models/digits_nets.py',
    '_base_/digits16_adamw_15e.py',
]
model = _base_.vit_d64_16px
