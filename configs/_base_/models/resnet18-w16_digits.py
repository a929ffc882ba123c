# The digits CNN teacher: ResNet-18 with the CIFAR stem (3x3 conv, no max
# pooling) and base width 16 (stages of 16, 32, 64 and 128 channels), for
# the 16 px digits (10 classes).
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        base_channels=16,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
