package db

// Flush writes the store's memtable to a table file, for tests that damage
// the files of a closed store.
func Flush(d *DB) error { return d.pdb.Flush() }
