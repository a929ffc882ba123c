_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)
default_hooks = dict(
    # the losses read in one copy (see default_runtime.py)
    runtime_info=dict(type='BatchedRuntimeInfoHook'),
    logger=dict(type='LoggerHook', interval=10),
    # one checkpoint, at the end (runs take a minute or two)
    checkpoint=dict(type='AtomicCheckpointHook', interval=-1, save_last=True,
                    max_keep_ckpts=1),
    # the OFA-KD stages of the model in every checkpoint's meta
    ofakd_stages=dict(type='OFAKDStagesHook'),
)
# Same seed, same results on this machine; tools/quickstart.py also pins the
# CPU numerics that differ between machines (see the README).
randomness = dict(seed=0, deterministic=True)
