# CycleMLP-B3 for ImageNet-1K (the official code's `CycleMLP_B3`), the
# student of the BEiT v2-B teacher.
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='CycleMLP', arch='b3', drop_path_rate=0.),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])
