"""Migration operations that let writes go on while PostgreSQL builds an index (``docs/operations.md``,
"Upgrade"), and that the embedded SQLite default runs as the plain operations.

A migration using them sets ``atomic = False``: PostgreSQL builds an index ``CONCURRENTLY`` only outside a
transaction. Put them before the operations that drop what they replace (expand, then contract). Should a
concurrent build fail, PostgreSQL leaves the index invalid: drop it and run the migration again.
"""

from django.db import migrations


class AddIndexOnline(migrations.AddIndex):
    """``AddIndex``, built with ``CREATE INDEX CONCURRENTLY`` on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))


class AddUniqueConstraintOnline(migrations.AddConstraint):
    """``AddConstraint`` of a plain ``UniqueConstraint`` (fields only): on PostgreSQL its index is built
    concurrently, then adopted (``ADD CONSTRAINT … UNIQUE USING INDEX``), so writes wait only for the
    catalogue change. Undone as ``AddConstraint`` is (dropping the constraint drops its index)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        quote = schema_editor.quote_name
        table, name = quote(model._meta.db_table), quote(self.constraint.name)
        columns = ", ".join(quote(model._meta.get_field(field).column) for field in self.constraint.fields)
        schema_editor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns})")
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}")


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
