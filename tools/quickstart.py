"""OFA-KD quickstart on scikit-learn's built-in digits (nothing to download).

Trains the CNN teacher on the whole train split once (cached in the work dir,
retrained only when its config changes), then a ViT and an MLP-Mixer student
on 20 images per class, from scratch, with vanilla KD and with OFA-KD, over
several seeds. Every run goes through mmengine's ``Runner.from_cfg(cfg)``
``.train()`` then ``.test()`` as ``tools/train.py`` does, in ``--jobs``
worker processes with pinned CPU numerics
(:mod:`ofakd_mm.utils.reproducibility`), so that
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
import json
import os
import os.path as osp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger, print_log

import ofakd_mm  # noqa: F401  (applies the compatibility layer first)
from ofakd_mm.utils.experiment import (EpochProgress, config_key,
                                       load_cached_result, run_job,
                                       set_max_epochs, worker_pool)
from ofakd_mm.utils.fileio import atomic_write
from ofakd_mm.utils.reproducibility import weights_fingerprint
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
#: A run's results: (student, variant) -> one result per seed.
Results = Dict[Tuple[str, str], List[Dict[str, Any]]]


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


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def format_table(results: Results, teacher: Dict[str, Any],
                 metric: str = 'test_top1') -> str:
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
    return weights_fingerprint([('teacher', teacher['weights_sha256'])] +
                               sorted((f'{r["student"]}/{r["variant"]}/'
                                       f'seed{r["seed"]}', r['weights_sha256'])
                                      for r in runs))


def plot_curves(results: Results, teacher: Dict[str, Any], path: str) -> str:
    """Plot the mean (over seeds) validation top-1 per epoch of every
    variant, one panel per student, the teacher's final value dashed.

    Returns:
        str: ``path`` of the written PNG.
    """
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(
            'The quickstart plots with matplotlib: pip install -r '
            'requirements/optional.txt') from e
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
            line, = ax.plot(epochs, accs.mean(axis=0), marker='.',
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
    teacher = load_cached_result(teacher_cfg.work_dir, teacher_key)
    total_epochs = sum(c.train_cfg.max_epochs for *_, c in jobs) + (
        0 if teacher else teacher_cfg.train_cfg.max_epochs)
    # The runners log to their own files (and to the console with
    # --verbose); these summary lines always show, and go to quickstart.log.
    logger = MMLogger.get_instance(
        f'quickstart_{time.strftime("%Y%m%d_%H%M%S")}',
        logger_name='quickstart',
        log_file=osp.join(work_dir, 'quickstart.log'), log_level='INFO')
    print_log(f'Digits quickstart: {len(jobs)} student runs '
              f'({total_epochs} epochs in all'
              f'{"" if teacher else " with the teacher"}) in {args.jobs} '
              f'worker process(es), work dir {work_dir}', logger=logger)
    progress = EpochProgress(total_epochs, show=not args.verbose)

    def say(message: str) -> None:
        progress.end_line()
        print_log(message, logger=logger)

    results: Results = {}

    def report(student: str, variant: str, seed: int,
               result: Dict[str, Any]) -> None:
        result.update(student=student, variant=variant, seed=seed)
        results.setdefault((student, variant), []).append(result)
        took = 'cached' if result['cached'] else f'{result["seconds"]:.0f} s'
        say(f'{student}/{variant} seed {seed}: val '
            f'{result["val_top1"]:.2f}, test {result["test_top1"]:.2f} '
            f'({took})')

    with progress, worker_pool(args.jobs, progress.queue) as pool:
        pending: Dict[Future, Tuple[str, str, int]] = {}

        def submit(student: str, variant: str, seed: int, cfg: Config,
                   key: str) -> None:
            cached = None if args.no_cache else load_cached_result(
                cfg.work_dir, key)
            if cached is not None:
                progress.skip(cfg.train_cfg.max_epochs)
                report(student, variant, seed, cached)
            else:
                future = pool.submit(run_job, cfg, key, not args.verbose)
                pending[future] = (student, variant, seed)

        # The teacher first; the students trained from scratch do not wait
        # for it.
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
        note = 'cached, config unchanged' if teacher['cached'] else \
            f'trained in {teacher["seconds"]:.0f} s'
        say(f'teacher {TEACHER_NAME}: val {teacher["val_top1"]:.2f}, '
            f'test {teacher["test_top1"]:.2f} ({note})')
        for student, variant, seed, cfg in distill:
            cfg.model.teacher_ckpt = teacher['checkpoint']
            submit(student, variant, seed, cfg,
                   config_key(cfg, extra=teacher_key))
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                report(*pending.pop(future), future.result())

    for runs in results.values():
        runs.sort(key=lambda r: r['seed'])
    all_runs = [r for rs in results.values() for r in rs]
    seconds = time.time() - start
    table = format_table(results, teacher) + '\n\n' + format_table(
        results, teacher, metric='val_top1')
    weights_print = fingerprint(teacher, all_runs)
    plot = plot_curves(results, teacher, osp.join(work_dir,
                                                  'val_curves.png'))
    atomic_write((table + '\n').encode(), osp.join(work_dir, 'results.md'))
    atomic_write(
        json.dumps(dict(teacher=teacher, seconds=round(seconds, 1),
                        fingerprint=weights_print, runs=all_runs),
                   indent=1).encode(), osp.join(work_dir, 'results.json'))
    say(
        table + f'\n\nweights fingerprint: {weights_print} (equal '
        'fingerprints, bit-identical weights; the README has its own)\n'
        f'plot: {plot}\nwall time: {seconds:.0f} s')
    return dict(teacher=teacher, results=results, table=table, plot=plot,
                fingerprint=weights_print, seconds=seconds)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: ``python tools/quickstart.py [options]``."""
    run_quickstart(parse_args(argv))


if __name__ == '__main__':
    main(sys.argv[1:])
