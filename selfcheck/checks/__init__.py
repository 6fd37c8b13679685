"""The checks, one module per assignment module; each registers its checks in selfcheck.base.REGISTRY on import."""
