"""Private helpers shared across jaxmethods subpackages (no stability promise)."""
