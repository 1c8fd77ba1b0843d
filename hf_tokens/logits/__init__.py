"""Methods at the `logits` extension point; each sub-package is one method and registers itself."""
