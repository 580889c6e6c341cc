"""Operating the service: backups, retention, subject access requests."""
