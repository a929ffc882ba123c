# The digits ViT student: 8 transformer layers of width 64 (4 heads, MLP
# 128), patch 4 on the 16 px digits: a 4x4 patch grid plus a class token.
# Its OFA-KD stages end after layers 2, 4, 6 and 8.
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=64,
            num_layers=8,
            num_heads=4,
            feedforward_channels=128),
        img_size=16,
        patch_size=4,
        drop_path_rate=0.0),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=.02)]))
