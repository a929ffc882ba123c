from .stage_sources import (STAGE_SOURCES, register_stage_sources,
                            resolve_stage_sources)

__all__ = ['STAGE_SOURCES', 'register_stage_sources', 'resolve_stage_sources']
