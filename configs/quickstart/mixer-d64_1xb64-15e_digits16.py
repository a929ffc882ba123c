# Quickstart student from scratch: a 12-block MLP-Mixer (width 64, patch 4:
# 16 tokens).
_base_ = [
    '../_base_/models/digits_nets.py',
    '_base_/digits16_adamw_15e.py',
]
model = _base_.mixer_d64_16px
