"""Methods at the `trainers` extension point; each sub-package is one method and registers itself."""
