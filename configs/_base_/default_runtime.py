_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='auto'))
