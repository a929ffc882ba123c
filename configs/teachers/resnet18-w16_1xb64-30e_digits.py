_base_ = [
    '../_base_/models/digits_nets.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_sgd_30e.py',
    '../_base_/digits_runtime.py',
]
model = _base_.resnet18_w16
