"""tools/analysis/print_projectors.py: the stage lines of the build log and
the projectors of a config, and the teacher's modules with their shapes."""
import os.path as osp

from conftest import OFA_DIGITS_CFG, REPO_ROOT, run_main

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'print_projectors.py')


def test_stages_projectors_and_teacher_modules(capsys):
    assert run_main(TOOL, OFA_DIGITS_CFG, '--teacher') is None
    out = capsys.readouterr().out
    # the lines OFAKDDistill logs at build and stores in checkpoint meta
    assert ('stage1: backbone.layers.1 (17, 64), grid 4x4, 1 extra '
            'token(s); why: declared: block 2 of the 8 blocks') in out
    assert 'stage4: backbone.layers.7 (17, 64)' in out
    assert 'total' in out and '351,144' in out
    # the digits teacher (ResNet-18 w16 at 16 px), for a feature loss
    assert 'teacher modules at 16x16' in out
    assert '  backbone.layer1: (16, 16, 16)' in out
    assert '  backbone.layer4: (128, 2, 2)' in out
    assert 'head.fc: (10,)' in out
