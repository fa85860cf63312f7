"""The HTTP edge: FastAPI app, problem+json errors, routes. Thin: every route calls
one service, which owns its transaction."""
