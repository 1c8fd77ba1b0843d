"""Methods at the `analysis` extension point (functions returning JSON-serialisable reports over any HF model) and
the shared per-token statistics; each sub-package is one method and registers itself."""
