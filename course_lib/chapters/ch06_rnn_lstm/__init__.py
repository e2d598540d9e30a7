"""Chapter 6's own code: its exercises' checks (``exercises``), its widgets (``widgets``) and its helpers."""
