# OFA-KD written as a plain MMRazor ConfigurableDistiller config: the way to
# add OFA exit branches to an existing MMRazor KD config. Unlike OFAKDDistill,
# nothing is measured: each projector is declared with its stage's shape
# (print them with tools/analysis/print_projectors.py on an OFAKDDistill
# config). Same method and defaults as
# ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py.
_base_ = [
    '../_base_/datasets/digits20shot_bs32.py',
    '../_base_/schedules/digits_adamw_40e.py',
    '../_base_/digits_runtime.py',
]
teacher_ckpt = 'work_dirs/resnet18-w16_1xb64-20e_digits/epoch_20.pth'

# The ViT student: width 64 (= d_S), 4x4 patch grid + a class token.
token_stage = dict(type='OFAKDTokenProjector', embed_dim=64, grid_size=4,
                   student_dim=64, num_classes=10, num_extra_tokens=1)
ofa_loss = dict(type='OFAKDLoss', eps=1.0, temperature=1.0, loss_weight=1.0)
labels = dict(recorder='gt_labels', from_student=True, data_idx=1)
teacher_logits = dict(recorder='logits', from_student=False)


def stage_mapping(k):
    return dict(
        preds_S=dict(recorder=f'stage{k}', from_student=True,
                     connector=f'stage{k}'),
        preds_T=dict(recorder='logits', from_student=False),
        gt_labels=dict(recorder='gt_labels', from_student=True, data_idx=1))


model = dict(
    _scope_='mmrazor',
    type='FrozenTeacherDistill',
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/vit-d64-l8_digits.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/resnet18-w16_digits.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            stage1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            stage2=dict(type='ModuleOutputs', source='backbone.layers.3'),
            stage3=dict(type='ModuleOutputs', source='backbone.layers.5'),
            stage4=dict(type='ModuleOutputs', source='backbone.layers.7'),
            logits=dict(type='ModuleOutputs', source='head'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        connectors=dict(
            stage1=dict(token_stage, stage=1),
            stage2=dict(token_stage, stage=2),
            stage3=dict(token_stage, stage=3),
            stage4=dict(token_stage, stage=4)),
        distill_losses=dict(
            loss_ofa_stage1=ofa_loss,
            loss_ofa_stage2=ofa_loss,
            loss_ofa_stage3=ofa_loss,
            loss_ofa_stage4=ofa_loss,
            loss_ofa_final=ofa_loss),
        loss_forward_mappings=dict(
            loss_ofa_stage1=stage_mapping(1),
            loss_ofa_stage2=stage_mapping(2),
            loss_ofa_stage3=stage_mapping(3),
            loss_ofa_stage4=stage_mapping(4),
            loss_ofa_final=dict(
                preds_S=dict(recorder='logits', from_student=True),
                preds_T=teacher_logits,
                gt_labels=labels))))
# Only `model` and the run settings belong in the dumped config.
del token_stage, ofa_loss, labels, teacher_logits, stage_mapping
