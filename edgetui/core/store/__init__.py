"""The sessions database: opening and migrating it, its records, the Store, and sessions exported and imported."""
