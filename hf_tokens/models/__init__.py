"""Methods at the `models` extension point; each sub-package is one method and registers itself."""
