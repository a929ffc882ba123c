from .input_size import check_input_size, pipeline_image_size, train_image_size
from .stage_discovery import (StageDiscoveryError, StageSource,
                              discover_stage_sources, token_layout)
from .stage_sources import (STAGE_SOURCES, register_stage_sources,
                            resolve_stage_sources, table_stage_sources)

__all__ = [
    'STAGE_SOURCES', 'StageDiscoveryError', 'StageSource',
    'check_input_size', 'discover_stage_sources', 'pipeline_image_size',
    'register_stage_sources', 'resolve_stage_sources', 'table_stage_sources',
    'token_layout', 'train_image_size'
]
