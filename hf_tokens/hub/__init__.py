"""Publishing artefacts the Hub way: model cards from ``cards/``, ``save_for_hub``, ``push_to_hub`` and
``custom_generate`` repository export."""

from __future__ import annotations

from hf_tokens.hub.cards import cards_dir, config_to_dict, render_card
from hf_tokens.hub.publish import METADATA_FILE, export_custom_generate, push_to_hub, save_for_hub

__all__ = [
    "METADATA_FILE",
    "cards_dir",
    "config_to_dict",
    "export_custom_generate",
    "push_to_hub",
    "render_card",
    "save_for_hub",
]
