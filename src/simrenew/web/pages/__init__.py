"""The server-rendered pages: self-care, quick top-up, kiosk and the dev inbox.

Each module is a router over the same services as the API; ``page.py`` holds what
every page shares (language, CSRF, session, rendering, security headers).
"""
