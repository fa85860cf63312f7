"""Payment providers: one module each, all returning ``ports.ProviderResult``."""
