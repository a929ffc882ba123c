# DKD baseline (Zhao et al., CVPR 2022) with the DKD paper's ImageNet setting
# (alpha 1, beta 0.5, temperature 1). Differs on purpose from the official
# OFA-KD train.py defaults (`--dkd-alpha 1 --dkd-beta 2 --dkd-temperature 1`
# on every dataset): the OFA-KD paper does not say which values its DKD
# baselines used, and these are DKD's own tuned ones. The labels (hard, or
# the argmax of the soft scores under mixup / cutmix, as the official code)
# are read from the student's loss module.
model = dict(
    _scope_='mmrazor',
    type='FrozenTeacherDistill',
    gt_loss_weight=1.0,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        distill_losses=dict(
            loss_dkd=dict(
                type='BatchMeanDKDLoss', tau=1.0, alpha=1.0, beta=0.5,
                loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits'),
                gt_labels=dict(
                    recorder='gt_labels', from_student=True, data_idx=1)))))
