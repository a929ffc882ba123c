"""requirements/runtime.txt lists what importing ofakd_mm (and with it
mmrazor's models) needs; what only a tool or one optional component needs
is in requirements/optional.txt."""
import os.path as osp
import re
import subprocess
import sys
from typing import Set

from conftest import REPO_ROOT

IMPORT = ('import sys\n'
          'sys.modules.update(dict.fromkeys(sys.argv[1:]))  # unimportable\n'
          'import ofakd_mm, mmrazor.models\n')


def names(requirements: str) -> Set[str]:
    with open(osp.join(REPO_ROOT, 'requirements', requirements)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return {re.split(r'[<>=!;\[ ]', line)[0] for line in lines if line}


def import_without(*modules: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', IMPORT, *modules],
                          cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


def test_runtime_requirements_are_what_the_import_needs():
    runtime, optional = names('runtime.txt'), names('optional.txt')
    # Not needed to import: optional.
    assert import_without('matplotlib', 'scipy').returncode == 0
    assert {'matplotlib', 'scipy'} <= optional
    assert not {'matplotlib', 'scipy'} & runtime
    # mmrazor imports joblib without declaring it: a runtime requirement.
    failed = import_without('joblib')
    assert failed.returncode != 0 and 'joblib' in failed.stderr
    assert 'joblib' in runtime
