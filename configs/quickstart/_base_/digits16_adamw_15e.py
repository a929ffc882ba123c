# The quickstart students' data (16 px digits) and schedule: AdamW
# (transformer blocks and the OFA-KD projectors diverge under SGD), 2 warm-up
# epochs then cosine, a validation every epoch (the accuracy curves), one
# checkpoint at the end. lr 2e-3: best of 1e-3, 2e-3, 4e-3 on the validation
# split (ViT; a tie for the Mixer).
_base_ = ['../../_base_/schedules/digits_adamw_30e.py', 'digits16.py']
max_epochs = 15
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=1e-5,
         by_epoch=True, begin=2, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
