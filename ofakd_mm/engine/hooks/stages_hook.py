from typing import Any, Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

#: ``meta`` key of the OFA-KD stages in a checkpoint.
STAGES_META_KEY = 'ofakd_stages'


def stage_info_of(model: Any) -> Optional[List[Dict[str, Any]]]:
    """``distiller.stage_info`` of an (optionally wrapped) OFA-KD
    algorithm, or None for other models."""
    if is_model_wrapper(model):
        model = model.module
    info = getattr(getattr(model, 'distiller', None), 'stage_info', None)
    return info or None


@HOOKS.register_module()
class OFAKDStagesHook(Hook):
    """Keep the OFA-KD stages with the checkpoints of a run.

    Stores the stages the model was built with (``distiller.stage_info``:
    per stage the module, output shape, grid, extra tokens and why it was
    chosen) in each checkpoint's ``meta['ofakd_stages']``, where the release
    converter keeps them for the released student. When a checkpoint with
    stages is loaded (``resume``, ``load_from``), warns if this build chose
    other modules or shapes, e.g. after an update of ofakd_mm: the exit
    branches would then continue on other features. Does nothing for
    models without OFA-KD stages.
    """

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the stages to ``checkpoint['meta']``."""
        info = stage_info_of(runner.model)
        if info is not None:
            checkpoint.setdefault('meta', {})[STAGES_META_KEY] = [
                dict(entry) for entry in info
            ]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Warn if the checkpoint's stages are not those of this build."""
        saved = (checkpoint.get('meta') or {}).get(STAGES_META_KEY)
        info = stage_info_of(runner.model)
        if not saved or info is None:
            return

        def taps(entries):
            return [(e['stage'], e['module'], list(e['shape']))
                    for e in entries]

        if taps(saved) != taps(info):
            runner.logger.warning(
                'The checkpoint was trained with OFA-KD stages '
                f'{taps(saved)} (stage, module, shape) and this build taps '
                f'{taps(info)}: its exit branches continue on other '
                'features. Set `stage_sources` in the distiller config to '
                'the modules of the checkpoint to keep them.')
