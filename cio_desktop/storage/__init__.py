"""SQLAlchemy models, the engine factory (SQLCipher file or PostgreSQL), units of work,
migrations. Nothing here knows about Qt or about who the user is."""
