_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['ofakd_mm'], allow_failed_imports=False)
# AtomicCheckpointHook (ofakd_mm): a checkpoint is written under a temporary
# name and renamed, and older ones are removed only after it is on disk, so
# a run killed while saving resumes from its newest complete checkpoint.
# BatchedRuntimeInfoHook (ofakd_mm): the step's losses are read from the
# GPU in one copy, not one host-device sync per logged value.
# OFAKDStagesHook (ofakd_mm): the OFA-KD stages of the model (module,
# shape, grid, extra tokens, why) in every checkpoint's meta.
default_hooks = dict(
    runtime_info=dict(type='BatchedRuntimeInfoHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1,
                    max_keep_ckpts=3, save_best='auto'),
    ofakd_stages=dict(type='OFAKDStagesHook'))
