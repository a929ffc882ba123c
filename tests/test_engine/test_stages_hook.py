"""OFAKDStagesHook: the OFA-KD stages of a real digits run in its
checkpoint's meta, kept in the released student's meta, and a warning when
a checkpoint is loaded into a build that taps other modules."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import (OFA_DIGITS_CFG, REPO_ROOT, log_lines, run_main,
                      small_config)

CONVERT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                   'convert_kd_ckpt_to_student.py')


@pytest.fixture(scope='module')
def ofa_run(tmp_path_factory, digits_teacher_ckpt):
    work_dir = str(tmp_path_factory.mktemp('stages'))
    cfg = small_config(OFA_DIGITS_CFG, work_dir, epochs=1,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    runner = Runner.from_cfg(cfg)
    runner.train()
    return dict(work_dir=work_dir, teacher=digits_teacher_ckpt,
                ckpt=osp.join(work_dir, 'epoch_1.pth'),
                stage_info=runner.model.distiller.stage_info)


def test_checkpoint_meta_holds_the_stages(ofa_run):
    meta = torch.load(ofa_run['ckpt'], map_location='cpu',
                      weights_only=False)['meta']
    assert meta['ofakd_stages'] == ofa_run['stage_info']
    assert [s['module'] for s in meta['ofakd_stages']] == [
        f'backbone.layers.{i}' for i in (1, 3, 5, 7)]
    assert meta['ofakd_stages'][3]['why'].startswith('declared: block 8')


def test_released_student_keeps_the_stages(ofa_run, tmp_path):
    out = str(tmp_path / 'student.pth')
    config_out = str(tmp_path / 'student.py')
    assert run_main(CONVERT, ofa_run['ckpt'], out, '--config',
                    OFA_DIGITS_CFG, '--config-out', config_out) is None
    released = torch.load(out, map_location='cpu', weights_only=True)
    assert released['meta']['ofakd_stages'] == ofa_run['stage_info']
    # the plain mmpretrain config of the student has no OFA-KD hook
    hooks = Config.fromfile(config_out,
                            import_custom_modules=False).default_hooks
    assert 'ofakd_stages' not in hooks and hooks.checkpoint


@pytest.mark.parametrize('stage_sources,warned', [
    (None, False),
    ({k: f'backbone.layers.{2 * k - 2}' for k in (1, 2, 3, 4)}, True),
])
def test_loading_into_other_stages_warns(ofa_run, tmp_path, stage_sources,
                                         warned):
    cfg = small_config(
        OFA_DIGITS_CFG, str(tmp_path), epochs=1,
        **{'model.teacher_ckpt': ofa_run['teacher'],
           'model.distiller.stage_sources': stage_sources,
           'load_from': ofa_run['ckpt']})
    runner = Runner.from_cfg(cfg)
    with log_lines(runner.logger, logging.WARNING) as lines:
        runner.load_or_resume()
    found = [line for line in lines if 'OFA-KD stages' in line]
    assert bool(found) == warned
    if warned:
        assert "(1, 'backbone.layers.1', [17, 64])" in found[0]
        assert "(1, 'backbone.layers.0', [17, 64])" in found[0]
