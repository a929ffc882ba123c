_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1),
)
randomness = dict(seed=0, deterministic=False)
