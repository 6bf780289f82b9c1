"""Pure values and calculations: no database, no Qt, no I/O."""
