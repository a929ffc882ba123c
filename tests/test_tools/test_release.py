"""Model-zoo release: a real OFA distillation run on the digits, converted to
a plain mmpretrain checkpoint + config, published, then loaded by mmpretrain
in a process where ofakd_mm cannot be imported."""
import json
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from ofakd_mm.utils import release
from conftest import OFA_DIGITS_CFG, REPO_ROOT, run_main, small_config

CONVERT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                   'convert_kd_ckpt_to_student.py')
PUBLISH = osp.join(REPO_ROOT, 'tools', 'model_converters', 'publish_model.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')

# Run in a fresh interpreter in which `import ofakd_mm` fails: the released
# config and checkpoint must be enough for mmpretrain.
FRESH_MMPRETRAIN = textwrap.dedent('''
    import sys
    sys.modules['ofakd_mm'] = None  # any import of ofakd_mm now fails
    import torch
    from mmpretrain import ImageClassificationInferencer, get_model
    cfg, ckpt, batch_file, out_file, threads = sys.argv[1:]
    torch.set_num_threads(int(threads))
    batch = torch.load(batch_file)
    model = get_model(cfg, pretrained=ckpt, device='cpu')
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=list(batch['inputs'])), False)
        logits = model(data['inputs'], mode='tensor')
    inferencer = ImageClassificationInferencer(cfg, pretrained=ckpt,
                                               device='cpu')
    images = [img.numpy() for img in batch['images'][:8]]
    results = inferencer(images, batch_size=8)
    torch.save(dict(logits=logits,
                    preds=torch.tensor([r['pred_label'] for r in results]),
                    pred_classes=[r['pred_class'] for r in results]),
               out_file)
    assert not any(m == 'ofakd_mm' or m.startswith('ofakd_mm.')
                   for m, v in sys.modules.items() if v is not None)
''')


def run_tool(*args: str, cwd: str) -> subprocess.CompletedProcess:
    """Run a Python script with this interpreter (the venv's)."""
    return subprocess.run([sys.executable, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def checked(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def train_ofa(work_dir: str, teacher_ckpt: str, hooks: List[dict]) -> Runner:
    """2 OFA iterations on the digits with ``hooks``, always from the same
    seed."""
    cfg = small_config(
        OFA_DIGITS_CFG, work_dir, epochs=1,
        **{'model.teacher_ckpt': teacher_ckpt, 'custom_hooks': hooks,
           'randomness': dict(seed=0)})
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def released(tmp_path_factory, digits_teacher_ckpt) -> Dict[str, str]:
    """Train 2 OFA iterations (with mmengine's EMAHook), convert with --ema
    and the config, publish."""
    root = str(tmp_path_factory.mktemp('release'))
    train_ofa(osp.join(root, 'ofa'), digits_teacher_ckpt,
              [dict(type='EMAHook', momentum=0.5)])
    distill_ckpt = osp.join(root, 'ofa', 'epoch_1.pth')
    student = osp.join(root, 'out', 'vit-d64_ofa_digits.pth')
    student_cfg = osp.join(root, 'out', 'vit-d64_ofa_digits.py')
    out = checked(run_tool(CONVERT, distill_ckpt, student, '--ema',
                           '--config', OFA_DIGITS_CFG,
                           '--config-out', student_cfg, cwd=root))
    assert 'EMA weights' in out
    published = checked(run_tool(PUBLISH, student, student, cwd=root))
    return dict(root=root, distill_ckpt=distill_ckpt, student=student,
                student_cfg=student_cfg,
                published=published.strip().splitlines()[-1],
                teacher_ckpt=digits_teacher_ckpt)


def ofa_test_config(released: Dict[str, str]) -> Config:
    """The OFA config of the run, testing the distillation checkpoint on
    the whole digits test split."""
    return small_config(
        OFA_DIGITS_CFG, osp.join(released['root'], 'ofa_test'),
        **{'model.teacher_ckpt': released['teacher_ckpt'],
           'test_dataloader.dataset.indices': None,
           'load_from': released['distill_ckpt']})


def test_published_file(released):
    published = released['published']
    name = osp.basename(published)
    assert re.fullmatch(r'vit-d64_ofa_digits-[0-9a-f]{8}\.pth', name), name
    assert release.file_sha256(published)[:8] == name[-12:-4]
    # Loadable the way mmengine loads it on torch >= 2.6 without ofakd_mm.
    ckpt = torch.load(published, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert all(k.startswith(('backbone.', 'head.'))
               for k in ckpt['state_dict'])
    meta = ckpt['meta']
    assert meta['source_checkpoint'] == 'epoch_1.pth'
    assert meta['source_checkpoint_sha256'] == release.file_sha256(
        released['distill_ckpt'])
    assert meta['source_config'] == osp.basename(OFA_DIGITS_CFG)
    assert "type='OFAKDDistill'" in meta['source_cfg']
    assert meta['ema'] is True
    assert meta['dataset_meta']['classes'] == tuple('0123456789')


def test_exported_config_is_plain_mmpretrain(released):
    cfg = Config.fromfile(released['student_cfg'], import_custom_modules=False)
    assert 'custom_imports' not in cfg and 'teacher_ckpt' not in cfg
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.data_preprocessor.type == 'ClsDataPreprocessor'
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.type == 'VisionTransformer'
    assert '_scope_' not in repr(cfg.model)
    assert not [k for k, v in cfg.items()
                if isinstance(v, dict) and 'backbone' in v and k != 'model']
    # data, evaluator and runtime settings are those of the run
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.test_evaluator.type == 'Accuracy'


def test_mmpretrain_alone_reproduces_the_student(released):
    from mmpretrain.registry import DATASETS

    cfg = ofa_test_config(released)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(len(dataset))]
    inputs = [s['inputs'] for s in samples]
    labels = torch.tensor([s['data_samples'].gt_label.item()
                           for s in samples])
    images = torch.stack([torch.from_numpy(dataset.get_data_info(i)['img'])
                          for i in range(8)])
    batch_file = osp.join(released['root'], 'batch.pt')
    out_file = osp.join(released['root'], 'fresh.pt')
    torch.save(dict(inputs=torch.stack(inputs), images=images), batch_file)

    # The released model, in a process where ofakd_mm cannot be imported.
    fresh_proc = subprocess.Popen(
        [sys.executable, '-c', FRESH_MMPRETRAIN, released['student_cfg'],
         released['published'], batch_file, out_file,
         str(torch.get_num_threads())],
        cwd=released['root'], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    # Meanwhile: the distillation checkpoint tested with the OFA config, the
    # distilled student's logits, and the release tested with its exported
    # config by tools/test.py (which imports ofakd_mm for DigitsDataset).
    runner = Runner.from_cfg(cfg)
    distill_metrics = runner.test()
    algo = runner.model
    algo.load_state_dict(
        release.read_checkpoint(released['distill_ckpt'])['state_dict'],
        strict=True)  # as load_from did, but strict
    algo.eval()
    with torch.no_grad():
        data = algo.data_preprocessor(dict(inputs=inputs), False)
        logits = algo.student(data['inputs'], mode='tensor')
    metrics_file = osp.join(released['root'], 'student_metrics.json')
    assert run_main(TEST, released['student_cfg'], released['published'],
                    '--work-dir', osp.join(released['root'], 'test_student'),
                    '--out', metrics_file) is None
    out, _ = fresh_proc.communicate(timeout=300)
    assert fresh_proc.returncode == 0, out

    fresh = torch.load(out_file)
    assert torch.equal(fresh['logits'], logits)
    assert fresh['preds'].tolist() == logits[:8].argmax(1).tolist()
    assert fresh['pred_classes'] == [str(p) for p in fresh['preds'].tolist()]
    with open(metrics_file) as f:
        student_metrics = json.load(f)
    accuracy = (logits.argmax(1) == labels).float().mean().item() * 100
    assert len(dataset) == 360  # the whole digits test split
    assert student_metrics['accuracy/top1'] == pytest.approx(
        distill_metrics['accuracy/top1'])
    assert student_metrics['accuracy/top1'] == pytest.approx(accuracy)


def test_ema_choice(released, tmp_path):
    ckpt = release.read_checkpoint(released['distill_ckpt'])
    ema, _ = release.extract_student_state_dict(ckpt, 'ckpt', ema=True)
    raw, dropped = release.extract_student_state_dict(ckpt, 'ckpt')
    assert dropped == ['distiller.']
    key = 'head.layers.head.weight'
    # EMAHook saves the averages in `state_dict`, the raw weights in
    # `ema_state_dict`.
    assert torch.equal(ema[key], ckpt['state_dict']['architecture.' + key])
    assert torch.equal(
        raw[key], ckpt['ema_state_dict']['module.architecture.' + key])
    assert not torch.equal(ema[key], raw[key])
    # An `ema_state_dict` without the student's raw weights is refused,
    # never released as if it were raw.
    ckpt['ema_state_dict'] = {'steps': ckpt['ema_state_dict']['steps']}
    with pytest.raises(ValueError, match='does not hold the raw weights'):
        release.extract_student_state_dict(ckpt, 'ckpt')
    del ckpt['ema_state_dict']
    with pytest.raises(ValueError, match='has no `ema_state_dict`'):
        release.extract_student_state_dict(ckpt, 'ckpt', ema=True)
    # A distillation checkpoint is refused by publish_model.
    with pytest.raises(ValueError, match='convert_kd_ckpt_to_student'):
        release.publish_checkpoint(released['distill_ckpt'],
                                   str(tmp_path / 'x.pth'))


def test_release_of_an_ema_run_gives_the_weights_asked_for(released,
                                                           tmp_path):
    """The fixture's seeded run again, without EMA and with ofakd_mm's
    StudentEMAHook: released without --ema, both EMA runs give exactly the
    weights of the run without EMA; with --ema, the averages of the hook."""
    teacher_ckpt = released['teacher_ckpt']
    plain = train_ofa(str(tmp_path / 'plain'), teacher_ckpt, [])
    student_ema = train_ofa(str(tmp_path / 'student_ema'), teacher_ckpt,
                            [dict(type='StudentEMAHook', momentum=0.5)])
    hook, = [h for h in student_ema.hooks if type(h).__name__ ==
             'StudentEMAHook']
    averaged = hook.ema_model.module.state_dict()
    trained = plain.model.student.state_dict()

    def convert(run_dir: str, *options: str) -> Dict[str, torch.Tensor]:
        out = str(tmp_path / f'{osp.basename(run_dir)}{len(options)}.pth')
        assert run_main(CONVERT, osp.join(run_dir, 'epoch_1.pth'), out,
                        *options) is None
        return torch.load(out, weights_only=True)['state_dict']

    def same(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> bool:
        return a.keys() == b.keys() and all(
            torch.equal(a[k], b[k]) for k in a)

    for run_dir in (osp.join(released['root'], 'ofa'),
                    str(tmp_path / 'student_ema')):
        assert same(convert(run_dir), trained), run_dir
    from_student_ema = convert(str(tmp_path / 'student_ema'), '--ema')
    assert same(from_student_ema, averaged)
    assert not same(from_student_ema, trained)
    # Both hooks average the student alike.
    assert same(convert(osp.join(released['root'], 'ofa'), '--ema'),
                averaged)


def test_refuses_what_is_not_its_input(released, tmp_path):
    with open(released['distill_ckpt'], 'rb') as f:
        data = f.read()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n')
    # The run's checkpoint, converted with a config whose student differs.
    other = Config.fromfile(OFA_DIGITS_CFG)
    other.model.architecture = dict(
        cfg_path='ofakd_mm::_base_/models/mixer-d64-l8_digits.py')
    other_cfg = str(tmp_path / 'ofa_mixer.py')
    other.dump(other_cfg)
    cases: List[tuple] = [
        ([released['teacher_ckpt']], 'not a distillation checkpoint'),
        ([str(truncated)], 'truncated, corrupt'),
        ([str(text)], 'cannot be read as a PyTorch checkpoint'),
        ([released['distill_ckpt'], '--config', other_cfg],
         'does not match the student'),
    ]
    for i, (args, message) in enumerate(cases):
        out = str(tmp_path / f'out{i}.pth')
        code = run_main(CONVERT, *args, out)
        # a string exit code: printed to stderr, exit status 1
        assert isinstance(code, str) and message in code, code
        assert not osp.exists(out)
    assert 'missing keys' in code and 'backbone.layers.0' in code, code
    # The command line itself, once: non-zero exit, the message, no
    # traceback.
    proc = run_tool(CONVERT, released['teacher_ckpt'],
                    str(tmp_path / 'out.pth'), cwd=str(tmp_path))
    assert proc.returncode == 1
    assert 'not a distillation checkpoint' in proc.stderr
    assert 'publish_model.py' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_student_config_of_a_paper_config_needs_no_ofakd_mm():
    path = osp.join(REPO_ROOT, 'configs', 'ofa',
                    'ofa_convnext-t_deit-t_8xb128-300e_in1k.py')
    out, notes = release.student_config_dict(Config.fromfile(path), path)
    assert out['model']['backbone']['type'] == 'VisionTransformer'
    assert [k for k, v in out.items()
            if isinstance(v, dict) and 'backbone' in v] == ['model']
    text = Config(out).pretty_text
    for ours in ('ofakd_mm', 'StudentEMAHook', 'AtomicCheckpointHook',
                 'cfg_path', 'teacher'):
        assert ours not in text, ours
    assert out['custom_hooks'][0]['type'] == 'EMAHook'
    assert out['default_hooks']['checkpoint']['type'] == 'CheckpointHook'
    assert any('StudentEMAHook -> EMAHook' in n for n in notes)


def test_released_files_reach_the_disk_whole(tmp_path, monkeypatch):
    """Released checkpoints are flushed to the disk (file, then its folder)
    before they appear under their final name."""
    synced = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f'/proc/self/fd/{fd}'))
        fsync(fd)

    monkeypatch.setattr(os, 'fsync', recording_fsync)
    student = str(tmp_path / 'student.pth')
    release.save_checkpoint(
        dict(meta={}, state_dict={'head.fc.bias': torch.zeros(3)}), student)
    published = release.publish_checkpoint(student, student)
    for final in (student, published):
        assert final + '.tmp' in synced
    assert synced.count(str(tmp_path)) == 2
    assert release.file_sha256(published)[:8] == published[-12:-4]
