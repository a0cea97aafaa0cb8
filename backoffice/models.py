"""No models: the module exists so that Django sends post_migrate for this app (see apps.py)."""
