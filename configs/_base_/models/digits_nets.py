# The digits quickstart's classifiers (32 px inputs, 10 classes), named so
# that distillation configs can use them as teacher and student.

# ResNet-18 (CIFAR stem) with base width 16 (16-32-64-128): the CNN teacher.
resnet18_w16 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR', depth=18, base_channels=16, num_stages=4,
        out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# A 12-block ViT of width 64 (4 heads), patch 4: an 8x8 grid + class token.
vit_d64 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=12, num_heads=4,
                  feedforward_channels=128),
        img_size=32, patch_size=4, drop_path_rate=0.0),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead', num_classes=10, in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=.02)]))

# A 12-block MLP-Mixer of width 64, patch 4: 64 tokens.
mixer_d64 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='MlpMixer',
        arch=dict(embed_dims=64, num_layers=12, tokens_mlp_dims=32,
                  channels_mlp_dims=128),
        img_size=32, patch_size=4, drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# The same ViT and MLP-Mixer for 16 px inputs (the quickstart: the digits are
# 8x8 originals): patch 4 gives a 4x4 grid, 16 patch tokens (+ class token),
# which trains ~3x faster on CPU than the 8x8 grid of the 32 px models.
vit_d64_16px = dict(vit_d64, backbone=dict(vit_d64['backbone'], img_size=16))
mixer_d64_16px = dict(
    mixer_d64, backbone=dict(mixer_d64['backbone'], img_size=16))
