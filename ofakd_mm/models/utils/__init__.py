from .input_size import check_input_size, pipeline_image_size, train_image_size
from .stage_discovery import (StageDiscoveryError, record_events,
                              stage_feature, token_layout)
from .stage_sources import (StageSource, check_stage_sources,
                            discover_stage_sources, stage_sources_hint)

__all__ = [
    'StageDiscoveryError', 'StageSource', 'check_input_size',
    'check_stage_sources', 'discover_stage_sources', 'pipeline_image_size',
    'record_events', 'stage_feature', 'stage_sources_hint', 'token_layout',
    'train_image_size'
]
