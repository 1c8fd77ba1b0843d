"""Methods at the `attention` extension point; each sub-package is one method and registers itself."""
