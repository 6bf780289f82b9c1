"""Background scheduler and job definitions."""
