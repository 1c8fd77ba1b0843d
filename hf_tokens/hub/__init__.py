"""Publishing artefacts the Hub way: model cards from ``cards/``, ``save_for_hub``, ``push_to_hub``, and
self-contained code exports (``custom_generate`` repositories, modeling code for ``trust_remote_code``) that run
where hf_tokens is not installed."""

from __future__ import annotations

from hf_tokens.hub.cards import cards_dir, config_to_dict, render_card
from hf_tokens.hub.exports import export_custom_generate, export_modeling_code
from hf_tokens.hub.publish import METADATA_FILE, push_to_hub, save_for_hub
from hf_tokens.hub.vendor import VendoringError, vendor_modules

__all__ = [
    "METADATA_FILE",
    "VendoringError",
    "cards_dir",
    "config_to_dict",
    "export_custom_generate",
    "export_modeling_code",
    "push_to_hub",
    "render_card",
    "save_for_hub",
    "vendor_modules",
]
