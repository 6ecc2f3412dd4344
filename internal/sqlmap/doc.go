// Package sqlmap maps the trees of a hills store to SQL tables and back:
// the table layout the export and import commands of hills-server write and
// read (SQLite, CSV, JSON lines) and the PostgreSQL mirror keeps.
//
// The layout of one tree, whose records are structs:
//
//   - the meta columns _id, _rev (the primary key), _version ("non-versioned",
//     "draft", "released"), _state, _schema ("major.minor"), _created,
//     _created_by, _modified, _modified_by (times as RFC 3339 text with
//     nanoseconds, UTC);
//   - one column per top-level field of the tree's schema, named after its
//     msgpack name, of the SQL type its kind maps to (Columns): integers,
//     floats, text, bytes, and nested structs, lists and maps as JSON text
//     (as the opaque interface renders them);
//   - _nulls: NULL, or a JSON array of the fields whose stored value is
//     null. A NULL field column not listed there is a field the record does
//     not hold;
//   - _unknown: NULL, or the fields the schema does not know (a newer minor
//     version wrote them), as a msgpack map kept byte for byte, with the
//     unknown members of nested structs under their field's name.
//
// A table _hills_trees lists the trees: name, versioned, major, minor and
// the schema as JSON.
//
// The core types: Tree (a tree's name, versioning and schema), Layout (the
// columns of a tree, built once, which turns a stored record into a Row and
// a Row back into a stored record, checked by the schema's text rules) and
// Source (any hills directory opened read-only, from one snapshot). The
// formats: WriteSQLite and ReadSQLite (every tree, and _hills_trees),
// WriteCSV and ReadCSV, WriteJSONLines (one tree). What they read comes
// back as ImportTree values, the records in their stored form, for
// netsync's Server.Import, which alone writes a server's store.
//
// A Layout is safe for concurrent use; a Row it returns is the caller's.
// A Source is safe for concurrent reads; the bytes Scan hands its callback
// are valid only inside it.
package sqlmap
