package db

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/cockroachdb/pebble/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
)

// Schema describes the records of a tree without their Go type: it is
// reflected from the tree's Go type when the tree is opened, stored in the
// database, and read back by tools (see DB.Opaque). A Schema returned by
// the database is a copy the caller owns.
//
// The stored schema of a tree is the union of the schemas of its major
// version: Evolution is the newest minor version opened so far, and Type
// holds that version's fields, followed by the fields only older minor
// versions had (their records may still hold them). Opening with an older
// minor version leaves it as it is; opening with a newer major version
// (after migration) replaces it.
type Schema struct {
	Tree      string
	Evolution Evolution
	Type      Type // the record's type, a KindStruct for struct records
}

// Fields returns the fields of a struct record in schema order.
func (s Schema) Fields() []Field { return s.Type.Fields }

// Type describes one value of a record; which members are set depends on
// its Kind. Field describes one member of a struct: Name is its msgpack
// name, the member name of the record's JSON text.
type (
	Type  = schema.Type
	Field = schema.Field
	Kind  = schema.Kind
)

// Kinds of values in a schema.
const (
	KindBool    = schema.Bool
	KindInt     = schema.Int     // Bits: 8, 16, 32, 64
	KindUint    = schema.Uint    // Bits: 8, 16, 32, 64
	KindFloat   = schema.Float   // Bits: 32, 64
	KindString  = schema.String  //
	KindBytes   = schema.Bytes   // []byte; [Len]byte when Len > 0
	KindTime    = schema.Time    // time.Time
	KindStruct  = schema.Struct  // Fields
	KindSlice   = schema.Slice   // Elem
	KindArray   = schema.Array   // Len, Elem
	KindMap     = schema.Map     // Key, Elem
	KindPointer = schema.Pointer // Elem or nil
	KindRef     = schema.Ref     // Key[U]: Ref is U's tree when declared, Name is U's Go type
	KindEnum    = schema.Enum    // a named integer type: Bits, Signed, Name
	KindRaw     = schema.Raw     // a type with its own msgpack encoding (Name)
)

// keyType is implemented by every Key[U].
type keyType interface{ keyTarget() reflect.Type }

func (Key[T]) keyTarget() reflect.Type { return reflect.TypeFor[T]() }

var keyTypeIface = reflect.TypeFor[keyType]()

var reflectOptions = schema.ReflectOptions{
	KeyTarget: func(t reflect.Type) (reflect.Type, bool) {
		if t.Kind() != reflect.Struct || !t.Implements(keyTypeIface) {
			return nil, false
		}
		return reflect.Zero(t).Interface().(keyType).keyTarget(), true
	},
}

// reflectSchema reflects the Go type of a tree.
func reflectSchema(name string, typ reflect.Type) (schema.Type, error) {
	st, err := schema.Reflect(typ, reflectOptions)
	if err != nil {
		return schema.Type{}, fmt.Errorf("%w: tree %s: %w", ErrSchema, name, err)
	}
	if err := checkRefs(&st, ""); err != nil {
		return schema.Type{}, fmt.Errorf("%w: tree %s: %w", ErrSchema, name, err)
	}
	return st, nil
}

// checkRefs checks the tree names of `hills:"ref=..."` tags.
func checkRefs(t *schema.Type, path string) error {
	if t.Kind == schema.Ref && t.Ref != "" && !validName(t.Ref) {
		return fmt.Errorf("field %s: ref=%q is not a tree name", path, t.Ref)
	}
	for _, s := range []*schema.Type{t.Elem, t.Key} {
		if s != nil {
			if err := checkRefs(s, path+"[]"); err != nil {
				return err
			}
		}
	}
	for i := range t.Fields {
		p := t.Fields[i].Name
		if path != "" {
			p = path + "." + p
		}
		if err := checkRefs(&t.Fields[i].Type, p); err != nil {
			return err
		}
	}
	return nil
}

func publicSchema(s *schema.Schema) Schema {
	c := s.Clone()
	return Schema{Tree: c.Tree, Evolution: Evolution{c.Major, c.Minor}, Type: c.Type}
}

// migration is a registered conversion of records of an older major
// version to the tree's type.
type migration struct {
	typ reflect.Type
	fn  func(old map[string]any) (any, error)
}

// Migrate registers fn to convert records written with schema major
// version fromMajor to the tree's type T, for OpenTree with a newer major
// SchemaVersion. fn gets the old record as msgpack decodes it without a
// type: a map from field name to value, where integers are int8…int64 or
// uint8…uint64 (the smallest that held them), floats float32 or float64,
// times time.Time, bytes []byte, lists []any and nested structs
// map[string]any.
//
// Migration runs at OpenTree. In a standalone database, every record of an
// older major version is rewritten with the new version, in batches that
// are each one atomic, durable write; the new schema is stored first, so a
// crash midway leaves each record either migrated or still of the old
// version, and the next OpenTree (which needs the same Migrate) reads the
// old ones through fn and finishes the work. In a replica, records are not
// rewritten (the server holds them): fn converts them whenever they are
// read, and an Update stores them with the new version. A migrated record
// keeps its meta (times, writers, state) but for Meta.Evolution; migration
// sends no events. fn must be deterministic and must not call the
// database.
func Migrate[T any](fromMajor uint16, fn func(old map[string]any) (T, error)) TreeOption {
	return func(c *treeConfig) {
		if c.migrations == nil {
			c.migrations = map[uint16]migration{}
		}
		c.migrations[fromMajor] = migration{typ: reflect.TypeFor[T](), fn: func(old map[string]any) (any, error) {
			return fn(old)
		}}
	}
}

// loadSchema reads the stored schema of the tree, if any. Called with
// d.mu held.
func (c *core) loadSchema() error {
	b, err := c.d.get(layout.SchemaKey(c.name))
	if err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	s, err := schema.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: tree %s: stored schema: %w", ErrCorrupt, c.name, err)
	}
	c.schema = s
	return nil
}

// evolve checks the schema of a Go type opening the tree against the
// stored one and returns the schema to store (nil when the stored one
// stays). Nothing is written. Called with d.mu held.
func (c *core) evolve(own schema.Type, cfg *treeConfig) (*schema.Schema, error) {
	mine := &schema.Schema{Tree: c.name, Major: cfg.major, Minor: cfg.minor, Type: own}
	s := c.schema
	if s == nil {
		return mine, nil
	}
	have, want := Evolution{s.Major, s.Minor}, Evolution{cfg.major, cfg.minor}
	switch {
	case s.Major > cfg.major:
		return nil, fmt.Errorf("%w: tree %s holds schema %v; this code has the older %v", ErrIncompatible, c.name, have, want)
	case s.Major < cfg.major:
		if _, ok := cfg.migrations[s.Major]; !ok {
			return nil, fmt.Errorf("%w: tree %s holds schema %v; opening it with %v needs a migration from major version %d (Migrate)",
				ErrIncompatible, c.name, have, want, s.Major)
		}
		return mine, nil
	}
	if err := schema.Compatible(&s.Type, &own); err != nil {
		return nil, fmt.Errorf("%w: tree %s: %v (stored schema %v, opening with %v)", ErrIncompatible, c.name, err, have, want)
	}
	next := *s
	if cfg.minor >= s.Minor {
		next = schema.Schema{Tree: c.name, Major: cfg.major, Minor: cfg.minor, Type: schema.Union(&own, &s.Type)}
	} else {
		next.Type = schema.Union(&s.Type, &own)
	}
	return &next, nil
}

// storeSchema writes s as the tree's schema when it differs from the
// stored one. Called with d.mu held.
func (c *core) storeSchema(s *schema.Schema) error {
	if err := schema.Validate(s); err != nil {
		return fmt.Errorf("%w: tree %s: %w", ErrSchema, c.name, err)
	}
	b, err := schema.Encode(s)
	if err != nil {
		return fmt.Errorf("%w: tree %s: encoding schema: %w", ErrSchema, c.name, err)
	}
	if c.schema != nil {
		if old, err := schema.Encode(c.schema); err == nil && bytes.Equal(old, b) {
			return nil
		}
	}
	if err := c.d.pdb.Set(layout.SchemaKey(c.name), b, pebble.Sync); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	c.schema = s
	return nil
}

// decodeValue decodes a record's data written with schema major version
// major into a value of the tree's type, through a migration when major
// is older than the type's.
func (c *core) decodeValue(major uint16, data []byte) (any, error) {
	return decodeVersion(c.decode, c.major, c.migrate, major, data)
}

// decodeVersion decodes data written with schema major version major for
// code of version cur: directly, or through the migration from major.
func decodeVersion(decode func([]byte) (any, error), cur uint16, migrate map[uint16]func([]byte) (any, error), major uint16, data []byte) (any, error) {
	if cur == 0 || major == cur {
		return decode(data)
	}
	if major > cur {
		return nil, fmt.Errorf("written with schema major version %d; this code knows %d", major, cur)
	}
	mig := migrate[major]
	if mig == nil {
		return nil, fmt.Errorf("written with schema major version %d; no migration to %d", major, cur)
	}
	return mig(data)
}

// migrateStored rewrites the records of older major versions with the
// tree's version, in atomic batches (standalone databases only). Called
// with d.mu held, after load.
func (c *core) migrateStored(ver Evolution) error {
	if c.d.replica {
		return nil
	}
	c.mu.RLock()
	var old []*entry
	c.order.Ascend(func(e *entry) bool {
		if e.major != ver.Major {
			old = append(old, e)
		}
		return true
	})
	c.mu.RUnlock()
	const batchLen = 256
	for len(old) > 0 {
		n := min(batchLen, len(old))
		b := c.d.pdb.NewBatch()
		done := make([]*entry, 0, n)
		for _, e := range old[:n] {
			data, err := marshal(e.val)
			if err != nil {
				b.Close()
				return fmt.Errorf("db: tree %s: migrating %s: %w", c.name, formatKey(unpackPair(e.key)), err)
			}
			ne := *e
			ne.major, ne.minor = ver.Major, ver.Minor
			m := c.recordMeta(&ne)
			b.Set(layout.RecordKey(c.name, e.key), record.Encode(nil, &m, data), nil)
			done = append(done, &ne)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			b.Close()
			return fmt.Errorf("%w: migrating tree %s: %w", ErrStorage, c.name, err)
		}
		b.Close()
		c.mu.Lock()
		for _, e := range done {
			c.m.set(e)
			c.order.ReplaceOrInsert(e)
		}
		c.sorted.Store(nil)
		c.mu.Unlock()
		old = old[n:]
	}
	return nil
}

func unpackPair(k uint64) (uint32, uint32) { return layout.Unpack(k) }

// typedMigrations makes the decoders of the registered migrations of a
// tree of T.
func typedMigrations[T any](c *core, cfg *treeConfig) (map[uint16]func([]byte) (any, error), error) {
	out := map[uint16]func([]byte) (any, error){}
	for from, m := range cfg.migrations {
		if m.typ != reflect.TypeFor[T]() {
			return nil, fmt.Errorf("%w: tree %s: migration from major %d makes %v, not %v",
				ErrTreeOptions, c.name, from, m.typ, reflect.TypeFor[T]())
		}
		if from >= cfg.major {
			return nil, fmt.Errorf("%w: tree %s: migration from major %d to %d", ErrTreeOptions, c.name, from, cfg.major)
		}
		out[from] = func(data []byte) (any, error) {
			var old map[string]any
			if err := msgpack.Unmarshal(data, &old); err != nil {
				return nil, err
			}
			v, err := m.fn(old)
			if err != nil {
				return nil, fmt.Errorf("migration from major %d: %w", from, err)
			}
			tv := v.(T)
			enc, err := marshal(&tv)
			if err != nil {
				return nil, fmt.Errorf("migration from major %d: %w", from, err)
			}
			return c.decode(enc)
		}
	}
	return out, nil
}

// valueDecoder returns decodeValue bound to the tree's current type, for
// use without d.mu; nil when the tree has no Go type. Called with d.mu held.
func (c *core) valueDecoder() func(major uint16, data []byte) (any, error) {
	if c.decode == nil {
		return nil
	}
	dec, cur, migrate := c.decode, c.major, c.migrate
	return func(major uint16, data []byte) (any, error) {
		return decodeVersion(dec, cur, migrate, major, data)
	}
}
