# MLP-Mixer-B/16 for ImageNet-1K (timm `mixer_b16_224`), a teacher of the
# paper. Its weights (Google's, ported by timm) expect inputs normalised with
# mean = std = 0.5 (127.5), which the teacher gets whatever the student's
# normalisation (see `teacher_data_preprocessor` of the distillation
# algorithms). LayerNorm eps 1e-6 as in timm.
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='MlpMixer',
        arch='b',
        img_size=224,
        patch_size=16,
        drop_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6)),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True))
