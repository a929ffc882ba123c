# The classifiers of the paper's pairs (ImageNet-1K, 224 px), named so that
# distillation configs can use them as `_base_.<name>` for teacher and student.
# Every head uses label smoothing 0.1 (all of the paper's student recipes do;
# a frozen teacher never computes its loss).
label_smooth_loss = dict(
    type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
vit_init_cfg = [
    dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]

# ---------------------------------------------------------------- CNNs
resnet18 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=512,
        loss=label_smooth_loss, topk=(1, 5)))
resnet34 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=34, num_stages=4, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=512,
        loss=label_smooth_loss, topk=(1, 5)))
resnet50 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=2048,
        loss=label_smooth_loss, topk=(1, 5)))
mobilenet_v2 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=1280,
        loss=label_smooth_loss, topk=(1, 5)))
convnext_t = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ConvNeXt', arch='tiny', drop_path_rate=0.1),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=768,
        loss=label_smooth_loss, init_cfg=None),
    init_cfg=dict(
        type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.))

# ---------------------------------------------------------------- ViTs
deit_t = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer', arch='deit-tiny', img_size=224,
        patch_size=16),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead', num_classes=1000, in_channels=192,
        loss=label_smooth_loss),
    init_cfg=vit_init_cfg)
# The paper's ViT-S: 384 wide, 12 blocks, 6 heads (not mmpretrain's 'small').
vit_s = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer', arch='deit-small', img_size=224,
        patch_size=16),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead', num_classes=1000, in_channels=384,
        loss=label_smooth_loss),
    init_cfg=vit_init_cfg)
beitv2_b = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='BEiTViT', arch='base', img_size=224, patch_size=16,
        drop_path_rate=0.1, out_type='avg_featmap', use_abs_pos_emb=False,
        use_rel_pos_bias=True, use_shared_rel_pos_bias=False),
    neck=None,
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=768,
        loss=label_smooth_loss,
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.02)]))

# ---------------------------------------------------------------- Swins
swin_t = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='SwinTransformer', arch='tiny', img_size=224,
        drop_path_rate=0.2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=768,
        loss=label_smooth_loss, init_cfg=None),
    init_cfg=vit_init_cfg)
# Swin-N and Swin-P: the paper's small Swins (depths 2-2-2-2, heads
# 2-4-8-16), embed 64 (final width 512) and 48 (final width 384).
swin_n = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='SwinTransformer', arch='nano', img_size=224),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=512,
        loss=label_smooth_loss, init_cfg=None),
    init_cfg=vit_init_cfg)
swin_p = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='SwinTransformer', arch='pico', img_size=224),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=384,
        loss=label_smooth_loss, init_cfg=None),
    init_cfg=vit_init_cfg)

# ---------------------------------------------------------------- MLPs
mixer_b16 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='MlpMixer', arch='b', img_size=224, patch_size=16,
        drop_rate=0.1,
        # timm's Mixer (the source of the converted teachers) uses eps 1e-6
        norm_cfg=dict(type='LN', eps=1e-6)),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=768,
        loss=label_smooth_loss, topk=(1, 5)))
resmlp_s12 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResMLP', arch='s12', img_size=224, patch_size=16),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=384,
        loss=label_smooth_loss),
    init_cfg=vit_init_cfg)
cyclemlp_b3 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='CycleMLP', arch='b3'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=512,
        loss=label_smooth_loss),
    init_cfg=vit_init_cfg)
