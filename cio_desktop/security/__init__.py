"""Password hashing, TOTP, roles and permissions, key management and field encryption.

Pure building blocks with no database access; ``services.auth`` and ``services.users`` put
them together with storage and the audit trail.
"""
