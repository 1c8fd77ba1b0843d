"""Methods at the `ops` extension point; each sub-package is one method and registers itself."""
