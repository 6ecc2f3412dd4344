package db_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hillsdb/hills/db"
)

// Release 1.0 of an application stores parts with a number.
type PartV1 struct {
	Number string `msgpack:"number"`
}

// Release 1.1 adds a field: the same major version, so both releases read
// each other's records.
type PartV11 struct {
	Number string `msgpack:"number"`
	Color  string `msgpack:"color"`
}

// Release 2.0 splits the number into a prefix and a serial.
type PartV2 struct {
	Prefix string `msgpack:"prefix"`
	Serial string `msgpack:"serial"`
	Color  string `msgpack:"color"`
}

func ExampleSchemaVersion() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)

	// Version 1.1 writes a record with a color.
	d, _ := db.Open(dir, nil)
	v11, _ := db.OpenTree[PartV11](d, "parts", db.SchemaVersion(1, 1))
	k, _ := v11.Create(PartV11{Number: "R-100", Color: "red"})
	d.Close()

	// Version 1.0 reads it and updates it: the color it does not know is
	// kept.
	d, _ = db.Open(dir, nil)
	v1, _ := db.OpenTree[PartV1](d, "parts")
	v1.Update(db.Key[PartV1](k), func(p *PartV1) error { p.Number = "R-101"; return nil })
	p1, m, _ := v1.Get(db.Key[PartV1](k))
	fmt.Println("1.0 reads:", p1.Number, "written with", m.Evolution)
	d.Close()

	// Version 1.1 sees the color again.
	d, _ = db.Open(dir, nil)
	v11, _ = db.OpenTree[PartV11](d, "parts", db.SchemaVersion(1, 1))
	p11, _, _ := v11.Get(k)
	fmt.Println("1.1 reads:", p11.Number, p11.Color)
	d.Close()
	// Output:
	// 1.0 reads: R-101 written with 1.1
	// 1.1 reads: R-101 red
}

func ExampleMigrate() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)
	d, _ := db.Open(dir, nil)
	v11, _ := db.OpenTree[PartV11](d, "parts", db.SchemaVersion(1, 1))
	v11.Create(PartV11{Number: "R-100", Color: "red"})
	d.Close()

	d, _ = db.Open(dir, nil)
	defer d.Close()
	// A new major version needs a migration from the old one.
	_, err := db.OpenTree[PartV2](d, "parts", db.SchemaVersion(2, 0))
	fmt.Println(errors.Is(err, db.ErrIncompatible))

	split := db.Migrate(1, func(old map[string]any) (PartV2, error) {
		n, _ := old["number"].(string)
		c, _ := old["color"].(string)
		return PartV2{Prefix: n[:1], Serial: n[2:], Color: c}, nil
	})
	v2, err := db.OpenTree[PartV2](d, "parts", db.SchemaVersion(2, 0), split)
	if err != nil {
		log.Fatal(err)
	}
	for k, p := range v2.All() {
		_, m, _ := v2.Get(k)
		fmt.Println(k, p.Prefix, p.Serial, p.Color, m.Evolution)
	}
	// Output:
	// true
	// 1.0 R 100 red 2.0
}

func ExampleTree_Release() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)
	d, _ := db.Open(dir, nil)
	defer d.Close()
	boms, _ := db.OpenTree[Part](d, "boms", db.Versioned())

	k, _ := boms.Create(Part{Number: "BOM-7", Quantity: 2})
	boms.Release(k)
	err := boms.Update(k, func(p *Part) error { p.Quantity = 3; return nil })
	fmt.Println(errors.Is(err, db.ErrReleased))
	// The lifecycle state stays changeable.
	boms.SetState(k, 2)
	_, m, _ := boms.Get(k)
	fmt.Println(m.Version, m.State)
	// Output:
	// true
	// released 2
}

func ExampleTree_Revise() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)
	d, _ := db.Open(dir, nil)
	defer d.Close()
	boms, _ := db.OpenTree[Part](d, "boms", db.Versioned())

	k, _ := boms.Create(Part{Number: "BOM-7", Quantity: 2})
	boms.Release(k)
	next, _ := boms.Revise(k)
	boms.Update(next, func(p *Part) error { p.Quantity = 3; return nil })
	for k, p := range boms.All() {
		_, m, _ := boms.Get(k)
		fmt.Println(k, p.Number, p.Quantity, m.Version)
	}
	// Output:
	// 1.0 BOM-7 2 released
	// 1.1 BOM-7 3 draft
}

func ExampleDB_Opaque() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)
	d, _ := db.Open(dir, nil)
	parts, _ := db.OpenTree[Part](d, "parts")
	parts.Create(Part{Number: "R-100", Quantity: 5})
	d.Close()

	// A tool without the Part type reads and edits the record as JSON.
	d, _ = db.Open(dir, nil)
	defer d.Close()
	op, _ := d.Opaque("parts")
	for _, f := range op.Schema().Fields() {
		fmt.Println(f.Name, f.Type.String())
	}
	k := db.OpaqueKey{Tree: "parts", ID: 1}
	op.Update(k, `{"number": "R-100", "quantity": 4}`)
	text, _ := op.Text(k)
	fmt.Println(text)
	_, err := op.Create(`{"number": "R-200", "quantity": "many"}`)
	fmt.Println(err)
	// Output:
	// number string
	// maker string
	// quantity int64
	// tags []string
	// {
	//   "number": "R-100",
	//   "quantity": 4
	// }
	// db: invalid text: tree parts: field quantity: want int64, got a string
}
