"""Install ofakd_mm; ships configs/ and tools/ as ``ofakd_mm/.mim`` for
``mim train ofakd_mm CONFIG`` the way OpenMMLab packages do."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'ofakd_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    with open(osp.join(ROOT, fname)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith('-r')]


def add_mim_extension() -> None:
    """Link (editable install) or copy configs/ and tools/ into
    ofakd_mm/.mim."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install',
                                         'build')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'ofakd_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for item in MIM_ITEMS:
        src = osp.join(ROOT, item)
        dst = osp.join(mim_path, item)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='ofakd_mm',
        version=get_version(),
        description='OFA-KD heterogeneous knowledge distillation for MMRazor',
        long_description=open(osp.join(ROOT, 'README.md')).read(),
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.9',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        include_package_data=True,
        package_data={'ofakd_mm': ['.mim/**/*', '.mim/*']},
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'tests': parse_requirements('requirements/tests.txt'),
            'optional': parse_requirements('requirements/optional.txt'),
        },
        zip_safe=False)
