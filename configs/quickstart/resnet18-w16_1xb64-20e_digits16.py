# The quickstart's CNN teacher: the digits ResNet-18 (width 16) at 16 px,
# 20 epochs of SGD.
_base_ = [
    '../_base_/models/digits_nets.py',
    '../_base_/schedules/digits_sgd_30e.py',
    '_base_/digits16.py',
]
model = _base_.resnet18_w16

max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
