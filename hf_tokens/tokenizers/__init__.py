"""Methods at the `tokenizers` extension point; each sub-package is one method and registers itself."""
