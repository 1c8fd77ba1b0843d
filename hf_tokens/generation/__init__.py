"""Methods at the `generation` extension point; each sub-package is one method and registers itself."""
