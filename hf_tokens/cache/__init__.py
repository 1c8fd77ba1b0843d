"""Methods at the `cache` extension point; each sub-package is one method and registers itself."""
