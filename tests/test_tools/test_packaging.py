"""The wheel ships configs/ and tools/ as ofakd_mm/.mim (what `mim train
ofakd_mm CONFIG` looks for), built from a copy of the tracked files."""
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

from conftest import REPO_ROOT


def test_wheel_ships_configs_and_tools(tmp_path):
    files = subprocess.run(['git', 'ls-files'], cwd=REPO_ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    src = tmp_path / 'src'
    for name in files:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(osp.join(REPO_ROOT, name), src / name)
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(tmp_path / 'dist'),
        str(src)
    ], check=True, capture_output=True, timeout=600)
    wheel, = (tmp_path / 'dist').glob('ofakd_mm-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ('ofakd_mm/__init__.py', 'ofakd_mm/compat/__init__.py',
                     'ofakd_mm/compat/mmcls.py',
                     'ofakd_mm/.mim/tools/train.py',
                     'ofakd_mm/.mim/tools/dist_train.sh',
                     'ofakd_mm/.mim/configs/ofa/'
                     'ofa_deit-t_resnet18_8xb64-100e_in1k.py',
                     'ofakd_mm/.mim/configs/_base_/models/'
                     'resnet18-w16_digits.py',
                     'ofakd_mm/.mim/model-index.yml'):
        assert expected in names, expected
    assert not any(n.startswith('tests/') for n in names)
