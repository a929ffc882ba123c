"""OFA-KD quickstart on scikit-learn's built-in digits (nothing to download).

Trains the CNN teacher on the whole train split once (cached in the work dir,
retrained only when its config changes), then a ViT and an MLP-Mixer student
on 20 images per class, from scratch, with vanilla KD and with OFA-KD, over
several seeds. Every run goes through mmengine's ``Runner.from_cfg(cfg)``
``.train()`` then ``.test()`` as ``tools/train.py`` does, in ``--jobs``
worker processes with pinned CPU numerics (see :data:`PINNED_ENV`), so that
the same seeds give the same table on any x86-64 machine with the same
package versions. Prints the TEST top-1 (mean ± std over seeds) per student
and variant, plots the validation accuracy curves (mean over seeds) and
writes a fingerprint of all trained weights.

Example::

    python tools/quickstart.py                      # ~7 min on 2 CPU cores
    python tools/quickstart.py --long               # 4x the student epochs
    python tools/quickstart.py --students vit --variants kd ofa --seeds 1
"""
import argparse
import contextlib
import copy
import functools
import hashlib
import json
import multiprocessing
import os
import os.path as osp
import sys
import threading
import time
from concurrent.futures import (FIRST_COMPLETED, Future, ProcessPoolExecutor,
                                wait)
from typing import Any, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.logging import MMLogger, print_log
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

import ofakd_mm  # noqa: F401  (applies the compatibility layer first)
from ofakd_mm.utils.runtime import drop_persistent_workers_without_workers

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'quickstart')
TEACHER_CONFIG = osp.join(CONFIG_DIR, 'resnet18-w16_1xb64-20e_digits.py')
#: (student, variant) -> config file.
STUDENT_CONFIGS: Dict[Tuple[str, str], str] = {
    (student, variant): osp.join(CONFIG_DIR, name.format(s=arch))
    for student, arch in (('vit', 'vit-d64-l8'), ('mixer', 'mixer-d64-l8'))
    for variant, name in (
        ('scratch', '{s}_1xb32-40e_digits20shot.py'),
        ('kd', 'kd_resnet18-w16_{s}_1xb32-40e_digits20shot.py'),
        ('ofa', 'ofa_resnet18-w16_{s}_1xb32-40e_digits20shot.py'))
}
STUDENTS = ('vit', 'mixer')
VARIANTS = ('scratch', 'kd', 'ofa')
VARIANT_NAMES = {'scratch': 'scratch', 'kd': 'KD', 'ofa': 'OFA-KD'}
STUDENT_NAMES = {'vit': 'ViT-d64-l8 (8 layers)',
                 'mixer': 'Mixer-d64-l8 (8 layers)'}
TEACHER_NAME = 'ResNet18-w16'
#: --long multiplies the students' epochs by this factor.
LONG_FACTOR = 4
ACC_KEY = 'accuracy/top1'

#: The environment of the worker processes, read by the libraries when they
#: load: one thread (thread counts change the order of floating-point sums),
#: ATen's portable kernels instead of the AVX2 / AVX-512 ones the CPU allows
#: (vector widths change it too), and MKL's conditional numerical
#: reproducibility in its COMPATIBLE branch (the same code path on Intel and
#: AMD processors). oneDNN, whose kernels are chosen per CPU, is switched off
#: in the workers (convolutions then run as im2col + MKL GEMM).
PINNED_ENV = {
    'OMP_NUM_THREADS': '1',
    'MKL_NUM_THREADS': '1',
    'ATEN_CPU_CAPABILITY': 'default',
    'MKL_CBWR': 'COMPATIBLE',
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments of the quickstart."""
    parser = argparse.ArgumentParser(
        description='OFA-KD quickstart on the built-in digits: teacher, '
        'then ViT / MLP students from scratch, with KD and with OFA-KD.')
    parser.add_argument('--work-dir', default='work_dirs/quickstart',
                        help='where runs, the cached teacher, the table '
                        '(results.md/json) and the plot go')
    parser.add_argument('--seeds', type=int, default=3,
                        help='seeds per student and variant (default 3)')
    parser.add_argument(
        '--jobs', type=int, default=min(2, os.cpu_count() or 1),
        help='runs trained at the same time, one CPU thread each (default: '
        'min(2, CPU count)); the results do not depend on it')
    parser.add_argument(
        '--long', action='store_true',
        help=f'train the students {LONG_FACTOR}x longer (more accurate, '
        f'~{LONG_FACTOR}x the time)')
    parser.add_argument('--students', nargs='+', choices=STUDENTS,
                        default=list(STUDENTS), help='students to train')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        default=list(VARIANTS), help='variants to train')
    parser.add_argument('--epochs', type=int,
                        help='student epochs (overrides the configs)')
    parser.add_argument('--teacher-epochs', type=int,
                        help='teacher epochs (overrides its config)')
    parser.add_argument(
        '--samples', type=int,
        help='keep only the first N images of each split (smoke tests)')
    parser.add_argument('--batch-size', type=int,
                        help='training batch size (overrides the configs)')
    parser.add_argument('--no-cache', action='store_true',
                        help='retrain finished student runs too (the '
                        'teacher is always reused while its config holds)')
    parser.add_argument('--verbose', action='store_true',
                        help="show the runners' logs (config dumps, a line "
                        'per epoch) instead of a progress bar; they are '
                        "always in each run's log file")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of every student config, e.g. '
        'optim_wrapper.optimizer.lr=1e-3')
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.seeds < 1:
        parser.error(f'--jobs and --seeds must be >= 1, got --jobs '
                     f'{args.jobs} and --seeds {args.seeds}')
    return args


def config_key(cfg: Config, extra: str = '') -> str:
    """Hash of a config's content (without ``work_dir``) and ``extra``.

    Args:
        cfg (Config): The config as it will be run.
        extra (str): Anything else the result depends on (e.g. the key of
            the teacher whose checkpoint the config loads).

    Returns:
        str: 16 hex digits.
    """
    content = cfg.to_dict()
    content.pop('work_dir', None)
    text = json.dumps(content, sort_keys=True, default=str) + extra
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def set_max_epochs(cfg: Config, epochs: int) -> None:
    """Set the training length and stretch the LR schedule to it: schedulers
    that ended at the old last epoch end at the new one, and schedulers that
    would start after it are dropped."""
    old = cfg.train_cfg.max_epochs
    schedulers = []
    for sched in copy.deepcopy(cfg.param_scheduler):
        if sched.get('begin', 0) >= epochs:
            continue
        if sched.get('end') == old or sched.get('end', 0) > epochs:
            sched['end'] = epochs
        if 'T_max' in sched:
            sched['T_max'] = sched['end'] - sched.get('begin', 0)
        schedulers.append(sched)
    cfg.param_scheduler = schedulers
    cfg.train_cfg.max_epochs = epochs


def build_config(path: str, work_dir: str, seed: int = 0,
                 epochs: Optional[int] = None,
                 samples: Optional[int] = None,
                 batch_size: Optional[int] = None,
                 options: Optional[Dict[str, Any]] = None) -> Config:
    """Load a quickstart config and apply the command-line settings.

    Args:
        path (str): Config file.
        work_dir (str): Work dir of this run.
        seed (int): Random seed of the run (initialisation, data order,
            augmentation).
        epochs (int, optional): Training epochs; the config's if None.
        samples (int, optional): Keep the first N images of every split.
        batch_size (int, optional): Training batch size.
        options (dict, optional): ``merge_from_dict`` overrides.

    Returns:
        Config: ready for ``Runner.from_cfg``.
    """
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=True)
    cfg.launcher = 'none'
    if epochs is not None:
        set_max_epochs(cfg, epochs)
    if samples is not None:
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.indices = samples
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    if options:
        cfg.merge_from_dict(options)
    # The runs happen in spawned worker processes: mmengine would otherwise
    # warn that it switches them to the config's 'fork'.
    cfg.env_cfg.setdefault('mp_cfg', {})['mp_start_method'] = 'spawn'
    return drop_persistent_workers_without_workers(cfg)


@functools.lru_cache(maxsize=1)
def _devnull() -> TextIO:
    """One /dev/null stream for the whole process (loggers keep it)."""
    return open(os.devnull, 'w')


class EpochHook(Hook):
    """Records the validation top-1 of every validation and reports each
    finished training epoch to ``progress`` (a queue the main process reads
    to advance its progress bar)."""

    priority = 'LOWEST'

    def __init__(self, progress: Optional[Any] = None) -> None:
        self.progress = progress
        self.curve: List[Tuple[int, float]] = []

    def after_train_epoch(self, runner: Runner) -> None:
        if self.progress is not None:
            self.progress.put(1)

    def after_val_epoch(self, runner: Runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if metrics and ACC_KEY in metrics:
            self.curve.append((runner.epoch, float(metrics[ACC_KEY])))


def weights_sha256(model: Any) -> str:
    """sha256 of a model's ``state_dict`` (names and values, in name order):
    the same for bit-identical weights."""
    state = model.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy()
                      .tobytes())
    return digest.hexdigest()


def numerics() -> Dict[str, Any]:
    """What the floating-point results of this process depend on: the
    numerics settings and the versions of the packages that compute."""
    import cv2
    import mmcv
    import mmengine
    import mmpretrain
    import mmrazor
    import sklearn
    import torch
    return dict(
        torch=torch.__version__,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.enabled,
        mkl_cbwr=os.environ.get('MKL_CBWR'),
        versions=dict(mmengine=mmengine.__version__, mmcv=mmcv.__version__,
                      mmpretrain=mmpretrain.__version__,
                      mmrazor=mmrazor.__version__, numpy=np.__version__,
                      sklearn=sklearn.__version__, opencv=cv2.__version__))


#: Set in worker processes: where they report finished epochs.
_EPOCHS_DONE: Optional[Any] = None


def init_worker(epochs_done: Optional[Any] = None) -> None:
    """Set up a worker process (started with :data:`PINNED_ENV`): one
    thread, no oneDNN, a check that ATen really uses its portable kernels,
    and the queue that gets the number of every finished epoch.

    Args:
        epochs_done (multiprocessing.Queue, optional): Gets a 1 after every
            training epoch of the worker's runs.
    """
    global _EPOCHS_DONE
    import torch
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != 'DEFAULT':
        raise RuntimeError(
            f'ATen CPU capability is {capability}, not DEFAULT: the worker '
            'was not started with ATEN_CPU_CAPABILITY=default, so its '
            'results would depend on the CPU.')
    _EPOCHS_DONE = epochs_done


def train_and_test(cfg: Config,
                   progress: Optional[Any] = None,
                   quiet: bool = True) -> Dict[str, Any]:
    """``Runner.from_cfg(cfg).train()`` then ``.test()``, as tools/train.py
    and tools/test.py do, recording the validation curve.

    Args:
        cfg (Config): Config of the run.
        progress (queue, optional): Gets a 1 after every training epoch.
        quiet (bool): Keep the runner's log (config dump, a line per epoch,
            warnings) in its log file only, off the console.

    Returns:
        dict: ``val_curve`` [(epoch, top-1)], ``val_top1`` (last
        validation), ``test_top1``, ``seconds``, ``checkpoint``,
        ``weights_sha256`` and ``numerics`` (see :func:`numerics`).
    """
    start = time.time()
    if quiet:
        # The runner's logger binds its console handler to sys.stdout when it
        # is built: point that at /dev/null, the log file keeps everything.
        with contextlib.redirect_stdout(_devnull()):
            runner = Runner.from_cfg(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    epoch_hook = EpochHook(progress)
    runner.register_hook(epoch_hook)
    runner.train()
    test_metrics = runner.test()
    checkpoint = osp.join(cfg.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    return dict(
        val_curve=epoch_hook.curve,
        val_top1=epoch_hook.curve[-1][1] if epoch_hook.curve else None,
        test_top1=float(test_metrics[ACC_KEY]),
        seconds=round(time.time() - start, 1),
        checkpoint=checkpoint,
        weights_sha256=weights_sha256(runner.model),
        numerics=numerics())


def run_job(cfg: Config, key: str, quiet: bool = True) -> Dict[str, Any]:
    """Train and test one config in a worker process and save its
    ``result.json`` (with ``key``) in its work dir.

    Returns:
        dict: The result of :func:`train_and_test`, with ``key`` and
        ``cached=False``.
    """
    result = train_and_test(cfg, _EPOCHS_DONE, quiet)
    result['key'] = key
    _save_result(cfg.work_dir, result)
    result['cached'] = False
    return result


def _load_cached(work_dir: str, key: str) -> Optional[Dict[str, Any]]:
    path = osp.join(work_dir, 'result.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('key') != key:
        return None
    if 'checkpoint' in result and not osp.isfile(result['checkpoint']):
        return None
    result['cached'] = True
    return result


def _save_result(work_dir: str, result: Dict[str, Any]) -> None:
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=1)


@contextlib.contextmanager
def pinned_environment() -> Iterator[None]:
    """:data:`PINNED_ENV` in ``os.environ`` while worker processes start
    (they inherit it), the caller's environment restored afterwards."""
    saved = {name: os.environ.get(name) for name in PINNED_ENV}
    os.environ.update(PINNED_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def worker_pool(jobs: int, epochs_done: Optional[Any] = None
                ) -> Iterator[ProcessPoolExecutor]:
    """``jobs`` fresh (spawned) worker processes with the pinned numerics.

    Args:
        jobs (int): Number of worker processes.
        epochs_done (multiprocessing.Queue, optional): See
            :func:`init_worker`.
    """
    with pinned_environment():
        pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context('spawn'),
            initializer=init_worker,
            initargs=(epochs_done, ))
        # Start every worker now, while the pinned environment is set.
        for future in [pool.submit(time.sleep, 0.5) for _ in range(jobs)]:
            future.result()
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def format_table(results: Dict[Tuple[str, str], List[Dict[str, Any]]],
                 teacher: Dict[str, Any], metric: str = 'test_top1') -> str:
    """A markdown table of ``metric`` (mean ± std over seeds) per student
    (rows) and variant (columns), with the teacher on a last row."""
    students = [s for s in STUDENTS if any(k[0] == s for k in results)]
    variants = [v for v in VARIANTS if any(k[1] == v for k in results)]
    seeds = max(len(r) for r in results.values()) if results else 0
    header = ['student'] + [VARIANT_NAMES[v] for v in variants]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for student in students:
        cells = [STUDENT_NAMES[student]]
        for variant in variants:
            runs = results.get((student, variant), [])
            if not runs:
                cells.append('-')
                continue
            mean, std = mean_std([r[metric] for r in runs])
            cells.append(f'{mean:.2f} ± {std:.2f}' if len(runs) > 1
                         else f'{mean:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append(f'| teacher {TEACHER_NAME} (CNN, whole train split) | '
                 f'{teacher[metric]:.2f} |' + ' |' * (len(variants) - 1))
    split = metric.split('_')[0].upper()
    note = 'hyper-parameters were chosen on VAL only' if split == 'TEST' \
        else 'used for model selection'
    title = f'{split} top-1 (%), mean ± std over {seeds} seed(s); {note}'
    return title + '\n\n' + '\n'.join(lines)


def fingerprint(teacher: Dict[str, Any],
                runs: Sequence[Dict[str, Any]]) -> str:
    """One hash of the weights of the teacher and of every run (named by
    student, variant and seed): equal fingerprints, bit-identical models."""
    items = [('teacher', teacher['weights_sha256'])] + sorted(
        (f'{r["student"]}/{r["variant"]}/seed{r["seed"]}',
         r['weights_sha256']) for r in runs)
    text = '\n'.join(f'{name} {sha}' for name, sha in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plot_curves(results: Dict[Tuple[str, str], List[Dict[str, Any]]],
                teacher: Dict[str, Any], path: str) -> str:
    """Plot the mean (over seeds) validation top-1 per epoch of every
    variant, one panel per student, the teacher's final value dashed.

    Returns:
        str: ``path`` of the written PNG.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    students = [s for s in STUDENTS if any(k[0] == s for k in results)]
    fig, axes = plt.subplots(1, len(students), squeeze=False,
                             figsize=(5.5 * len(students), 4))
    for ax, student in zip(axes[0], students):
        for variant in VARIANTS:
            runs = results.get((student, variant), [])
            curves = [r['val_curve'] for r in runs if r['val_curve']]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            epochs = [e for e, _ in curves[0][:length]]
            accs = np.array([[a for _, a in c[:length]] for c in curves])
            mean = accs.mean(axis=0)
            line, = ax.plot(epochs, mean, marker='.',
                            label=f'{VARIANT_NAMES[variant]} '
                            f'({len(curves)} seeds)')
            if len(curves) > 1:
                ax.fill_between(epochs, accs.min(axis=0), accs.max(axis=0),
                                color=line.get_color(), alpha=0.15)
        if teacher.get('val_top1') is not None:
            ax.axhline(teacher['val_top1'], color='k', linestyle='--',
                       linewidth=1, label='teacher (final)')
        ax.set_title(f'{STUDENT_NAMES[student]} <- {TEACHER_NAME}')
        ax.set_xlabel('epoch')
        ax.set_ylabel('validation top-1 (%)')
        ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    fig.suptitle('Digits quickstart: validation accuracy (mean over seeds, '
                 'band = min..max)')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_quickstart(args: argparse.Namespace) -> Dict[str, Any]:
    """Teacher (cached), then every student variant over ``args.seeds``
    seeds in ``args.jobs`` worker processes; writes results.md,
    results.json and val_curves.png in the work dir and prints the table.

    Returns:
        dict: ``teacher`` result, ``results`` {(student, variant): [per
        seed]}, ``table``, ``plot``, ``fingerprint``, ``seconds``.
    """
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    # The runners log to their own files (and to the console with
    # --verbose); these summary lines always show, and go to quickstart.log.
    logger = MMLogger.get_instance(
        f'quickstart_{time.strftime("%Y%m%d_%H%M%S")}',
        logger_name='quickstart',
        log_file=osp.join(work_dir, 'quickstart.log'), log_level='INFO')
    common = dict(samples=args.samples)
    epochs = args.epochs
    if args.long:
        epochs = (epochs or Config.fromfile(
            STUDENT_CONFIGS[(args.students[0], args.variants[0])]
        ).train_cfg.max_epochs) * LONG_FACTOR

    teacher_cfg = build_config(
        TEACHER_CONFIG, osp.join(work_dir, 'teacher'),
        epochs=args.teacher_epochs, **common)
    teacher_key = config_key(teacher_cfg)
    jobs = [(s, v, seed, build_config(
        STUDENT_CONFIGS[(s, v)], osp.join(work_dir, s, v, f'seed{seed}'),
        seed=seed, epochs=epochs, batch_size=args.batch_size,
        options=args.cfg_options, **common))
        for s in args.students for v in args.variants
        for seed in range(args.seeds)]
    teacher = _load_cached(teacher_cfg.work_dir, teacher_key)
    total_epochs = sum(c.train_cfg.max_epochs for *_, c in jobs) + (
        0 if teacher else teacher_cfg.train_cfg.max_epochs)
    print_log(f'Digits quickstart: {len(jobs)} student runs '
              f'({total_epochs} epochs in all'
              f'{"" if teacher else " with the teacher"}) in {args.jobs} '
              f'worker process(es), work dir {work_dir}', logger=logger)
    progress = None if args.verbose else ProgressBar(total_epochs)

    def say(message: str) -> None:
        if progress is not None:  # end the progress bar's line first
            sys.stdout.write('\n')
        print_log(message, logger=logger)

    def report_teacher(result: Dict[str, Any]) -> None:
        note = 'cached, config unchanged' if result['cached'] else \
            f'trained in {result["seconds"]:.0f} s'
        say(f'teacher {TEACHER_NAME}: val {result["val_top1"]:.2f}, '
            f'test {result["test_top1"]:.2f} ({note})')

    results: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}

    def report_student(student: str, variant: str, seed: int,
                       result: Dict[str, Any]) -> None:
        result.update(student=student, variant=variant, seed=seed)
        results.setdefault((student, variant), []).append(result)
        took = 'cached' if result['cached'] else f'{result["seconds"]:.0f} s'
        say(f'{student}/{variant} seed {seed}: val '
            f'{result["val_top1"]:.2f}, test {result["test_top1"]:.2f} '
            f'({took})')

    context = multiprocessing.get_context('spawn')
    epochs_done = context.Queue()

    def advance_progress() -> None:
        for epochs in iter(epochs_done.get, None):
            if progress is not None:
                progress.update(epochs)

    reader = threading.Thread(target=advance_progress, daemon=True)
    reader.start()

    def cached(cfg: Config, key: str) -> Optional[Dict[str, Any]]:
        result = None if args.no_cache else _load_cached(cfg.work_dir, key)
        if result is not None:
            epochs_done.put(cfg.train_cfg.max_epochs)
        return result

    try:
        with worker_pool(args.jobs, epochs_done) as pool:
            pending: Dict[Future, Tuple[str, str, int]] = {}

            def submit(student: str, variant: str, seed: int, cfg: Config,
                       key: str) -> None:
                result = cached(cfg, key)
                if result is not None:
                    report_student(student, variant, seed, result)
                else:
                    future = pool.submit(run_job, cfg, key, not args.verbose)
                    pending[future] = (student, variant, seed)

            # The teacher first; the students trained from scratch do not
            # wait for it.
            teacher_run = None if teacher is not None else pool.submit(
                run_job, teacher_cfg, teacher_key, not args.verbose)
            distill = []
            for student, variant, seed, cfg in jobs:
                if cfg.model.get('teacher_ckpt', None) is None:
                    submit(student, variant, seed, cfg, config_key(cfg))
                else:
                    distill.append((student, variant, seed, cfg))
            if teacher_run is not None:
                teacher = teacher_run.result()
            report_teacher(teacher)
            for student, variant, seed, cfg in distill:
                cfg.model.teacher_ckpt = teacher['checkpoint']
                submit(student, variant, seed, cfg,
                       config_key(cfg, extra=teacher_key))
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    report_student(*pending.pop(future), future.result())
    finally:
        epochs_done.put(None)
        reader.join()

    for runs in results.values():
        runs.sort(key=lambda r: r['seed'])
    all_runs = [r for rs in results.values() for r in rs]
    seconds = time.time() - start
    table = format_table(results, teacher) + '\n\n' + format_table(
        results, teacher, metric='val_top1')
    weights_print = fingerprint(teacher, all_runs)
    plot = plot_curves(results, teacher, osp.join(work_dir,
                                                  'val_curves.png'))
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(teacher=teacher, seconds=round(seconds, 1),
                       fingerprint=weights_print, runs=all_runs), f, indent=1)
    say(table + f'\n\nweights fingerprint: {weights_print} (the same on any '
        f'machine for the same settings and package versions)\nplot: {plot}'
        f'\nwall time: {seconds:.0f} s')
    return dict(teacher=teacher, results=results, table=table, plot=plot,
                fingerprint=weights_print, seconds=seconds)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: ``python tools/quickstart.py [options]``."""
    run_quickstart(parse_args(argv))


if __name__ == '__main__':
    main(sys.argv[1:])
