# Vanilla logit KD baseline (Hinton et al.): KL divergence between the
# softened head logits of student and frozen teacher (times tau^2), plus the
# student's own loss; temperature 1 and both weights 1 as the official
# train.py defaults (`--kd-temperature 1`). Leaf configs set student, teacher
# and teacher_ckpt.
model = dict(
    _scope_='mmrazor',
    type='FrozenTeacherDistill',
    gt_loss_weight=1.0,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=1.0, loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
