package db_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hillsdb/hills/db"
)

// Bolt is the record type of the examples.
type Bolt struct {
	Size     string `msgpack:"size"`
	Length   int    `msgpack:"length_mm"`
	Quantity int    `msgpack:"quantity"`
}

// exampleDB opens a database in a new temporary directory; cleanup closes
// it and removes the directory.
func exampleDB() (d *db.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "hills-example-")
	if err != nil {
		log.Fatal(err)
	}
	d, err = db.Open(dir, &db.Options{Name: "workshop"})
	if err != nil {
		log.Fatal(err)
	}
	return d, func() {
		d.Close()
		os.RemoveAll(dir)
	}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "hills-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// nil options: a standalone database that syncs every write.
	d, err := db.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replica:", d.IsReplica())

	// A directory is open once: a second Open fails until Close.
	_, err = db.Open(dir, nil)
	fmt.Println("second open in use:", errors.Is(err, db.ErrInUse))
	if err := d.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after close:", errors.Is(d.Close(), db.ErrClosed))
	// Output:
	// replica: false
	// second open in use: true
	// after close: true
}

func ExampleOpenTree() {
	d, cleanup := exampleDB()
	defer cleanup()

	bolts, err := db.OpenTree[Bolt](d, "bolts")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bolts.Name(), bolts.Len(), d.Trees())

	// A tree holds one Go type per process.
	_, err = db.OpenTree[Part](d, "bolts")
	fmt.Println("other type:", errors.Is(err, db.ErrTypeMismatch))
	_, err = db.OpenTree[Bolt](d, "Bolts")
	fmt.Println("bad name:", errors.Is(err, db.ErrInvalidName))
	// Output:
	// bolts 0 [bolts]
	// other type: true
	// bad name: true
}

func ExampleTree_Create() {
	d, cleanup := exampleDB()
	defer cleanup()
	bolts, _ := db.OpenTree[Bolt](d, "bolts")

	for _, b := range []Bolt{{"M3", 10, 200}, {"M4", 12, 150}} {
		k, err := bolts.Create(b) // durable when it returns
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("created", k, b.Size)
	}
	// Output:
	// created 1.0 M3
	// created 2.0 M4
}

func ExampleTree_View() {
	d, cleanup := exampleDB()
	defer cleanup()
	bolts, _ := db.OpenTree[Bolt](d, "bolts")
	k, _ := bolts.Create(Bolt{"M3", 10, 200})

	// v is the tree's own value: read it inside fn, do not change or keep it.
	err := bolts.View(k, func(v *Bolt, m db.Meta) {
		fmt.Printf("%s %s x %d mm: %d, written %d time(s) by %s\n", k, v.Size, v.Length, v.Quantity, m.Changes, m.CreatedBy)
	})
	if err != nil {
		log.Fatal(err)
	}
	err = bolts.View(db.Key[Bolt]{ID: 99}, func(*Bolt, db.Meta) {})
	fmt.Println(err)
	// Output:
	// 1.0 M3 x 10 mm: 200, written 1 time(s) by workshop
	// db: not found: bolts/99.0
}

func ExampleTree_Update() {
	d, cleanup := exampleDB()
	defer cleanup()
	bolts, _ := db.OpenTree[Bolt](d, "bolts")
	k, _ := bolts.Create(Bolt{"M3", 10, 200})

	take := func(n int) error {
		return bolts.Update(k, func(b *Bolt) error {
			if b.Quantity < n {
				return fmt.Errorf("only %d left", b.Quantity)
			}
			b.Quantity -= n
			return nil
		})
	}
	fmt.Println(take(150))
	fmt.Println(take(150)) // fn's error: nothing is written
	b, m, _ := bolts.Get(k)
	fmt.Println(b.Quantity, m.Changes)
	// Output:
	// <nil>
	// only 50 left
	// 50 2
}

func ExampleTree_All() {
	d, cleanup := exampleDB()
	defer cleanup()
	bolts, _ := db.OpenTree[Bolt](d, "bolts")
	for _, b := range []Bolt{{"M3", 10, 200}, {"M4", 12, 150}, {"M5", 16, 80}} {
		bolts.Create(b)
	}
	bolts.Delete(db.Key[Bolt]{ID: 2})

	// In key order; values are shared like View's.
	for k, b := range bolts.All() {
		fmt.Println(k, b.Size, b.Quantity)
	}
	fmt.Println("len", bolts.Len())
	// Output:
	// 1.0 M3 200
	// 3.0 M5 80
	// len 2
}

func ExampleTree_Subscribe() {
	d, cleanup := exampleDB()
	defer cleanup()
	bolts, _ := db.OpenTree[Bolt](d, "bolts")

	events := make(chan db.Event[Bolt], 10)
	cancel := bolts.Subscribe(func(e db.Event[Bolt]) { events <- e })
	defer cancel()

	k, _ := bolts.Create(Bolt{"M3", 10, 200})
	bolts.Update(k, func(b *Bolt) error { b.Quantity--; return nil })
	bolts.Delete(k)
	for range 3 {
		e := <-events // in order, after each write is durable
		fmt.Println(e.Kind, e.Key)
	}
	// Output:
	// created 1.0
	// updated 1.0
	// deleted 1.0
}

func ExampleParseKey() {
	k, err := db.ParseKey[Bolt]("42.3")
	fmt.Println(k.ID, k.Rev, k, err)

	_, err = db.ParseKey[Bolt]("42")
	fmt.Println(err)
	// Output:
	// 42 3 42.3 <nil>
	// db: invalid key: "42" is not a key ID.Rev
}
