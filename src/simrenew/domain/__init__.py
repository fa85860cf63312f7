"""Pure business rules. Imports only the standard library and pure helpers (phonenumbers)."""
