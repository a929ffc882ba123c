"""Checkpoint loading: what our runs write loads without running code, a
checkpoint whose pickle would run code is refused at every entry point (and
runs nothing), ``teacher_ckpt`` errors name the setting and the file, and
key mismatches get the hint that fits."""
import functools
import glob
import http.server
import os
import os.path as osp
import runpy
import threading
from typing import Iterator

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from mmpretrain.registry import MODELS

from ofakd_mm.utils import resolve_model_cfg
from ofakd_mm.utils.checkpoint import (UNSAFE_CHECKPOINTS_ENV,
                                       CheckpointReadError,
                                       StateDictMismatchError,
                                       UnsafeCheckpointError, diff_state_dicts,
                                       load_teacher_checkpoint, loading,
                                       state_dict_hints, timm_converter_models)
from conftest import (OFA_DIGITS_CFG, REPO_ROOT, TEACHER_CFG, run_main,
                      small_config)

TOOLS = osp.join(REPO_ROOT, 'tools')
TEST = osp.join(TOOLS, 'test.py')
CONVERT = osp.join(TOOLS, 'model_converters',
                   'convert_kd_ckpt_to_student.py')
PUBLISH = osp.join(TOOLS, 'model_converters', 'publish_model.py')
TIMM = osp.join(TOOLS, 'model_converters', 'timm_to_mmpretrain.py')


class CreatesFile:
    """Unpickling this calls ``open(path, 'w')``: it creates the file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def write_malicious(path: str, marker: str, state_dict=None) -> None:
    """A checkpoint shaped like mmengine's whose pickle creates ``marker``."""
    torch.save(
        dict(meta=dict(epoch=1, note=CreatesFile(marker)),
             state_dict=state_dict or torch.nn.Linear(2, 2).state_dict()),
        path)


def build_teacher() -> torch.nn.Module:
    from mmengine.config import Config
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(resolve_model_cfg(Config.fromfile(
            TEACHER_CFG).model))


@pytest.fixture(scope='module')
def distill_run(tmp_path_factory, digits_teacher_ckpt) -> str:
    """A real OFA run on the digits: AdamW, an EMA hook and save_best."""
    work_dir = str(tmp_path_factory.mktemp('ofa'))
    cfg = small_config(
        OFA_DIGITS_CFG, work_dir, epochs=1,
        **{'model.teacher_ckpt': digits_teacher_ckpt,
           'default_hooks.checkpoint.save_best': 'auto',
           'custom_hooks': [dict(type='EMAHook', momentum=0.5)]})
    Runner.from_cfg(cfg).train()
    return work_dir


@pytest.fixture
def http_root(tmp_path, monkeypatch) -> Iterator[tuple]:
    """A folder served on 127.0.0.1 (and torch.hub's cache in tmp_path)."""
    root = tmp_path / 'served'
    root.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, HistoryBuffer):
        return same(a.data, b.data) and a.max_length == b.max_length
    return a == b


def test_our_checkpoints_load_unchanged(distill_run, digits_teacher_ckpt):
    files = sorted(glob.glob(osp.join(distill_run, '*.pth')))
    names = [osp.basename(f) for f in files]
    assert names == ['best_accuracy_top1_epoch_1.pth', 'epoch_1.pth']
    for path in files + [digits_teacher_ckpt]:
        # torch's own weights_only check refuses them: the allow-list is
        # what loads them.
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
        loaded = _load_checkpoint(path, map_location='cpu')
        assert same(loaded, torch.load(path, weights_only=False)), path
    loaded = _load_checkpoint(files[1], map_location='cpu')
    assert {'ema_state_dict', 'optimizer', 'param_schedulers',
            'message_hub'} <= set(loaded)
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert history.mean() == pytest.approx(
        float(np.mean(history.data[0])))


def test_getattr_is_narrowed_to_history_buffer_methods():
    method = loading._history_buffer_method
    assert method(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for owner, name in ((HistoryBuffer, '__init__'),
                        (np.ndarray, 'tofile'), (HistoryBuffer, 'update')):
        with pytest.raises(Exception, match='is not allowed'):
            method(owner, name)


def test_malicious_checkpoint_refused_everywhere(tmp_path, monkeypatch):
    marker = str(tmp_path / 'created_by_pickle')
    teacher = build_teacher()
    evil = str(tmp_path / 'evil.pth')
    write_malicious(evil, marker, teacher.state_dict())
    # The payload works: full unpickling creates the file.
    torch.load(evil, weights_only=False)
    assert osp.exists(marker)
    os.remove(marker)

    def refused(call, *names):
        with pytest.raises(UnsafeCheckpointError) as info:
            call()
        for name in ('evil.pth', UNSAFE_CHECKPOINTS_ENV, 'io.open') + names:
            assert name in str(info.value), str(info.value)
        assert not osp.exists(marker)

    work_dir = str(tmp_path / 'work')
    refused(lambda: Runner.from_cfg(small_config(
        TEACHER_CFG, work_dir, resume=True, load_from=evil)).train())
    refused(lambda: Runner.from_cfg(small_config(
        TEACHER_CFG, work_dir, load_from=evil)).train())
    refused(lambda: load_teacher_checkpoint(teacher, evil), 'teacher_ckpt')
    from mmrazor.registry import MODELS as RAZOR_MODELS
    ofa = small_config(OFA_DIGITS_CFG, work_dir).model
    ofa.teacher_ckpt = evil
    refused(lambda: RAZOR_MODELS.build(dict(ofa, _scope_='mmrazor')),
            'teacher_ckpt')
    refused(lambda: run_main(TEST, TEACHER_CFG, evil, '--work-dir',
                             work_dir))
    # The tools exit with the message (no traceback).
    for args in ([CONVERT, evil, str(tmp_path / 'student.pth')],
                 [PUBLISH, evil, str(tmp_path / 'published.pth')],
                 [TIMM, '--model', 'deit-t', evil, str(tmp_path / 'x.pth')]):
        code = run_main(*args)
        assert isinstance(code, str) and 'refused to load' in code, code
        assert UNSAFE_CHECKPOINTS_ENV in code
        assert not osp.exists(marker)
    assert not glob.glob(str(tmp_path / '*student*')) + glob.glob(
        str(tmp_path / 'published*'))


def test_opt_in_loads_with_a_warning(tmp_path, monkeypatch):
    marker = str(tmp_path / 'created_by_pickle')
    evil = str(tmp_path / 'evil.pth')
    write_malicious(evil, marker)
    warnings = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, **kwargs: warnings.append(msg))
    monkeypatch.setenv(UNSAFE_CHECKPOINTS_ENV, '1')
    checkpoint = _load_checkpoint(evil, map_location='cpu')
    assert checkpoint['meta']['epoch'] == 1 and osp.exists(marker)
    assert len(warnings) == 1 and 'full unpickling' in warnings[0]
    assert 'evil.pth' in warnings[0] and 'io.open' in warnings[0]


def test_http_loader_refuses_what_mmengines_runs(http_root, tmp_path):
    """mmengine's http(s) loader (torch.hub, weights_only=False) runs the
    pickle; the registered one refuses it."""
    from mmengine.runner import checkpoint as mm_checkpoint
    root, url = http_root
    marker = str(tmp_path / 'created_by_pickle')
    write_malicious(str(root / 'evil.pth'), marker)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        _load_checkpoint(f'{url}/evil.pth')
    assert not osp.exists(marker)
    assert mm_checkpoint.load_from_http is not loading.load_from_http
    mm_checkpoint.load_from_http(f'{url}/evil.pth',
                                 model_dir=str(tmp_path / 'stock'))
    assert osp.exists(marker)  # what the patch prevents


def test_teacher_ckpt_errors_name_the_setting(tmp_path, digits_teacher_ckpt):
    teacher = build_teacher()
    missing = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError) as info:
        load_teacher_checkpoint(teacher, missing)
    assert 'teacher_ckpt' in str(info.value) and missing in str(info.value)

    with open(digits_teacher_ckpt, 'rb') as f:
        data = f.read()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    # cut inside the first stored record: torch's zip reader raises OSError
    cut_early = tmp_path / 'cut_early.pth'
    cut_early.write_bytes(data[:5000])
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n')
    a_list = str(tmp_path / 'list.pth')
    torch.save([1, 2], a_list)
    for path, message in ((str(truncated), 'truncated'),
                          (str(cut_early), 'truncated'),
                          (str(text), 'not a checkpoint'),
                          (a_list, 'holds a list')):
        with pytest.raises(CheckpointReadError) as info:
            load_teacher_checkpoint(teacher, path)
        assert 'teacher_ckpt' in str(info.value), str(info.value)
        assert path in str(info.value) and message in str(info.value)


def test_only_a_damaged_file_is_reported_as_one(tmp_path,
                                                digits_teacher_ckpt):
    """An intact checkpoint that fails to load for another reason keeps
    torch's error; a file whose bytes changed is named damaged."""
    for error in (RuntimeError, KeyError, OSError):
        def failing(storage, location, error=error):
            raise error('the device is busy')

        with pytest.raises(error, match='the device is busy'):
            loading.safe_torch_load(digits_teacher_ckpt,
                                    map_location=failing)
    with open(digits_teacher_ckpt, 'rb') as f:
        data = bytearray(f.read())
    pickle_at = data.index(b'data.pkl') + 40  # inside the pickle record
    data[pickle_at] ^= 0xFF
    garbled = tmp_path / 'garbled.pth'
    garbled.write_bytes(bytes(data))
    with pytest.raises(CheckpointReadError, match='fails its CRC check'):
        loading.safe_torch_load(str(garbled))


def teacher_mismatch(teacher, path: str) -> str:
    with pytest.raises(StateDictMismatchError) as info:
        load_teacher_checkpoint(teacher, path)
    message = str(info.value)
    assert message.startswith('teacher_ckpt '), message
    return message


def test_teacher_key_mismatch_hints(tmp_path):
    teacher = build_teacher()
    own = teacher.state_dict()

    def saved(name, state_dict):
        path = str(tmp_path / name)
        torch.save(dict(state_dict=state_dict), path)
        return path

    # Another number of classes: only then num_classes is mentioned.
    other_head = dict(own, **{'head.fc.weight': torch.zeros(7, 128),
                              'head.fc.bias': torch.zeros(7)})
    message = teacher_mismatch(teacher, saved('c7.pth', other_head))
    assert 'num_classes to 7' in message and '2 shape mismatches' in message
    # A prefix: named, no num_classes.
    prefixed = {'net.' + k: v for k, v in own.items()}
    message = teacher_mismatch(teacher, saved('prefixed.pth', prefixed))
    assert "prefix 'net.'" in message and 'num_classes' not in message
    # A distillation checkpoint.
    distill = {'architecture.' + k: v for k, v in own.items()}
    message = teacher_mismatch(teacher, saved('distill.pth', distill))
    assert 'convert_kd_ckpt_to_student.py' in message
    assert 'num_classes' not in message
    # timm-style keys: the converter and the models it converts.
    timm_like = {'conv1.weight': own['backbone.conv1.weight'],
                 'fc.weight': own['head.fc.weight']}
    message = teacher_mismatch(teacher, saved('timm.pth', timm_like))
    assert 'timm_to_mmpretrain.py' in message
    converter = runpy.run_path(TIMM)
    for name, spec in converter['TEACHERS'].items():
        assert f'{name} ({spec.timm_name})' in message, name


def test_the_timm_hint_runs_no_tool_script(tmp_path, monkeypatch):
    """The hint lists the converter's models without running any file of
    tools/ (here a converter script that would leave a marker)."""
    import ofakd_mm.utils.config
    marker = tmp_path / 'tool_ran'
    script = tmp_path / 'tools' / 'model_converters' / 'timm_to_mmpretrain.py'
    script.parent.mkdir(parents=True)
    script.write_text(f'open({str(marker)!r}, "w").close()\nTEACHERS = {{}}\n')
    monkeypatch.setattr(ofakd_mm.utils.config, 'configs_root',
                        lambda: str(tmp_path / 'configs'))
    getattr(timm_converter_models, 'cache_clear', lambda: None)()
    weight = torch.zeros(1)
    diff = diff_state_dicts(
        {'conv1.weight': weight, 'fc.weight': weight},
        {'backbone.conv1.weight': weight, 'head.fc.weight': weight})
    hint, = state_dict_hints(diff)
    assert 'deit-t (deit_tiny_patch16_224)' in hint
    assert not marker.exists()


def test_hints_fit_what_differs():
    own = {'backbone.w': torch.zeros(4, 3), 'head.fc.weight': torch.zeros(
        10, 4)}
    assert not diff_state_dicts(own, own)
    assert state_dict_hints(diff_state_dicts(own, own)) == []
    narrower = dict(own, **{'backbone.w': torch.zeros(2, 3)})
    hints = state_dict_hints(diff_state_dicts(narrower, own))
    assert len(hints) == 1 and 'outside the head' in hints[0]
    # The file holds the backbone only: the model's prefix is named.
    backbone = {'w': own['backbone.w']}
    diff = diff_state_dicts(backbone, {'backbone.w': own['backbone.w']})
    hints = state_dict_hints(diff)
    assert len(hints) == 1 and "prefix 'backbone.'" in hints[0]


def test_teacher_ckpt_over_http(http_root, digits_teacher_ckpt, monkeypatch):
    root, url = http_root
    with open(digits_teacher_ckpt, 'rb') as f:
        (root / 'teacher.pth').write_bytes(f.read())
    teacher = build_teacher()
    load_teacher_checkpoint(teacher, f'{url}/teacher.pth')
    expected = torch.load(digits_teacher_ckpt, weights_only=False)
    assert torch.equal(teacher.state_dict()['head.fc.weight'],
                       expected['state_dict']['head.fc.weight'])
    with pytest.raises(FileNotFoundError) as info:
        load_teacher_checkpoint(teacher, f'{url}/missing.pth')
    assert 'teacher_ckpt' in str(info.value)
    assert f'{url}/missing.pth' in str(info.value)

    # mmpretrain::MODEL names the weights of mmpretrain's model zoo.
    from mmpretrain.apis import ModelHub

    class Found:
        weights = f'{url}/teacher.pth'

    monkeypatch.setattr(ModelHub, 'get',
                        classmethod(lambda cls, name: Found()))
    teacher = build_teacher()
    load_teacher_checkpoint(teacher, 'mmpretrain::resnet18-w16_digits')
    assert torch.equal(teacher.state_dict()['head.fc.weight'],
                       expected['state_dict']['head.fc.weight'])


def test_test_tool_evaluates_the_student_without_the_teacher(
        distill_run, tmp_path, capsys):
    checkpoint = osp.join(distill_run, 'epoch_1.pth')
    work_dir = str(tmp_path / 'test')
    assert run_main(
        TEST, OFA_DIGITS_CFG, checkpoint, '--work-dir', work_dir,
        '--out', str(tmp_path / 'metrics.json'), '--cfg-options',
        'test_dataloader.dataset.indices=32',
        f'model.teacher_ckpt={tmp_path}/deleted_teacher.pth') is None
    log = ''.join(open(f).read() for f in glob.glob(
        osp.join(work_dir, '*', '*.log')))
    assert 'Evaluating the student (model.architecture)' in log
    assert 'deleted_teacher.pth' in log
    # The config sets a teacher_ckpt: no warning about a missing one.
    assert 'No teacher_ckpt' not in log and 'teacher_ckpt`' not in log
    assert osp.isfile(tmp_path / 'metrics.json')
    # A checkpoint that does not fit the config is refused, with the hint.
    with pytest.raises(StateDictMismatchError) as info:
        run_main(TEST, TEACHER_CFG, checkpoint, '--work-dir', work_dir)
    assert 'does not match the model' in str(info.value)
    assert 'convert_kd_ckpt_to_student.py' in str(info.value)
