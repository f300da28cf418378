"""Storage: the SQLAlchemy store, the table schema, migrations, the ledger of
accounts and claims, and the journal."""
