# For the digits ViT / MLP students: AdamW (transformer blocks and the OFA-KD
# projectors diverge under SGD), 2 warm-up epochs then cosine. lr 2e-3 and
# 40 epochs: chosen on the validation split (lr 1e-3 / 2e-3 / 4e-3, 40 / 60
# epochs), 40 keeping tools/quickstart.py under 10 minutes on 2 CPU cores.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=38, eta_min=1e-5, by_epoch=True,
         begin=2, end=40, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
