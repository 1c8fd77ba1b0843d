"""Methods at the `pipelines` extension point; each sub-package is one method and registers itself."""
