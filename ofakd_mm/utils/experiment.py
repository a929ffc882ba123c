"""Measured training runs: a config trained and tested through mmengine's
Runner as ``tools/train.py`` and ``tools/test.py`` do, its validation curve,
test top-1, time and weights recorded, in pinned worker processes (see
:mod:`ofakd_mm.utils.reproducibility`), with each finished run cached in its
work dir (used by ``tools/quickstart.py``)."""
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
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, TextIO, Tuple

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from .fileio import atomic_write
from .reproducibility import (numerics_info, pin_cpu_numerics,
                              pinned_environment, weights_sha256)

#: The metric the runs report.
ACC_KEY = 'accuracy/top1'
#: The record of a finished run, in its work dir.
RESULT_FILE = 'result.json'


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


class RunRecorder(Hook):
    """Records the validation top-1 of every validation and reports each
    finished training epoch to ``progress`` (a queue that a progress bar
    reads)."""

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


@functools.lru_cache(maxsize=1)
def _devnull() -> TextIO:
    """One /dev/null stream for the whole process (loggers keep it)."""
    return open(os.devnull, 'w')


def train_and_test(cfg: Config,
                   progress: Optional[Any] = None,
                   quiet: bool = True) -> Dict[str, Any]:
    """``Runner.from_cfg(cfg).train()`` then ``.test()``, recording the
    validation curve.

    Args:
        cfg (Config): Config of the run.
        progress (queue, optional): Gets a 1 after every training epoch.
        quiet (bool): Keep the runner's log (config dump, a line per epoch,
            warnings) in its log file only, off the console.

    Returns:
        dict: ``val_curve`` [(epoch, top-1)], ``val_top1`` (last
        validation), ``test_top1``, ``seconds``, ``checkpoint``,
        ``weights_sha256`` and ``numerics`` (see
        :func:`~ofakd_mm.utils.reproducibility.numerics_info`).
    """
    start = time.time()
    if quiet:
        # The runner's logger binds its console handler to sys.stdout when it
        # is built: point that at /dev/null, the log file keeps everything.
        with contextlib.redirect_stdout(_devnull()):
            runner = Runner.from_cfg(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    recorder = RunRecorder(progress)
    runner.register_hook(recorder)
    runner.train()
    test_metrics = runner.test()
    checkpoint = osp.join(cfg.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    return dict(
        val_curve=recorder.curve,
        val_top1=recorder.curve[-1][1] if recorder.curve else None,
        test_top1=float(test_metrics[ACC_KEY]),
        seconds=round(time.time() - start, 1),
        checkpoint=checkpoint,
        weights_sha256=weights_sha256(runner.model),
        numerics=numerics_info())


def load_cached_result(work_dir: str, key: str) -> Optional[Dict[str, Any]]:
    """The result a finished run saved in ``work_dir`` if it was run with
    the config of ``key`` and its last checkpoint is still there, with
    ``cached=True``; else None."""
    path = osp.join(work_dir, RESULT_FILE)
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


#: Set in worker processes: where they report finished epochs.
_EPOCHS_DONE: Optional[Any] = None


def init_worker(epochs_done: Optional[Any] = None) -> None:
    """Set up a worker process of :func:`worker_pool`: pinned numerics and
    the queue that gets a 1 after every finished epoch."""
    global _EPOCHS_DONE
    pin_cpu_numerics()
    _EPOCHS_DONE = epochs_done


def run_job(cfg: Config, key: str, quiet: bool = True) -> Dict[str, Any]:
    """Train and test one config in a worker process and save its result
    (with ``key``) in its work dir.

    Returns:
        dict: The result of :func:`train_and_test`, with ``key`` and
        ``cached=False``.
    """
    result = train_and_test(cfg, _EPOCHS_DONE, quiet)
    result['key'] = key
    atomic_write(
        json.dumps(result, indent=1).encode(),
        osp.join(cfg.work_dir, RESULT_FILE))
    result['cached'] = False
    return result


@contextlib.contextmanager
def worker_pool(jobs: int, epochs_done: Optional[Any] = None
                ) -> Iterator[ProcessPoolExecutor]:
    """``jobs`` fresh (spawned) worker processes with pinned numerics, for
    :func:`run_job`.

    Args:
        jobs (int): Number of worker processes.
        epochs_done (multiprocessing.Queue, optional): Gets a 1 after every
            training epoch of the workers' runs.
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


class EpochProgress:
    """A progress bar over the training epochs of runs in worker processes:
    give :attr:`queue` to :func:`worker_pool`, whose :func:`run_job` puts a
    1 there after every epoch; a thread advances the bar while the object
    is entered as a context manager.

    Args:
        total_epochs (int): Epochs of all the runs.
        show (bool): Draw the bar (False: the runners' own logs show the
            progress). Defaults to True.
    """

    def __init__(self, total_epochs: int, show: bool = True) -> None:
        self.queue = multiprocessing.get_context('spawn').Queue()
        self.bar = ProgressBar(total_epochs) if show else None
        self._reader = threading.Thread(target=self._advance, daemon=True)

    def __enter__(self) -> 'EpochProgress':
        self._reader.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.queue.put(None)
        self._reader.join()

    def _advance(self) -> None:
        for epochs in iter(self.queue.get, None):
            if self.bar is not None:
                self.bar.update(epochs)

    def skip(self, epochs: int) -> None:
        """Count ``epochs`` that need no training (a cached run)."""
        self.queue.put(epochs)

    def end_line(self) -> None:
        """End the bar's line, so that a message can be printed."""
        if self.bar is not None:
            sys.stdout.write('\n')
