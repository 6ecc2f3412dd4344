// Package demo fills a database with a small parts inventory for the
// viewer's tests, benchmarks and screenshots: a suppliers tree and a parts
// tree whose records use every kind of field the viewer's form edits.
package demo

import (
	"fmt"
	"time"

	"github.com/hillsdb/hills/db"
)

// Supplier is a record of the suppliers tree.
type Supplier struct {
	Name    string `msgpack:"name"`
	Country string `msgpack:"country"`
	Rating  uint8  `msgpack:"rating"`
}

// Category is an enumeration stored as its number.
type Category int32

// Size is a nested struct.
type Size struct {
	W float64 `msgpack:"w"`
	H float64 `msgpack:"h"`
}

// Part is a record of the parts tree.
type Part struct {
	Number   string           `msgpack:"number"`
	Name     string           `msgpack:"name"`
	Quantity int32            `msgpack:"quantity"`
	Price    float64          `msgpack:"price"`
	Active   bool             `msgpack:"active"`
	Category Category         `msgpack:"category"`
	Added    time.Time        `msgpack:"added"`
	Supplier db.Key[Supplier] `msgpack:"supplier" hills:"ref=suppliers"`
	Size     Size             `msgpack:"size"`
	Tags     []string         `msgpack:"tags"`
}

var (
	names     = []string{"Resistor 10k", "Capacitor 100nF", "LED red", "Diode 1N4148", "MOSFET N 30V", "Crystal 16MHz", "Header 2x5", "Fuse 1A", "Inductor 4.7uH", "Regulator 3V3"}
	prefixes  = []string{"RC0603", "CL10B", "LTST-C", "1N4148W", "AO3400", "ABM8", "PH2-10", "0451001", "SRN4018", "AP2112K"}
	suppliers = []Supplier{{"Digi-Key", "US", 5}, {"Mouser", "US", 4}, {"Farnell", "UK", 4}, {"LCSC", "CN", 3}, {"Reichelt", "DE", 4}}
)

// NewPart returns the i-th demo part, referring to supplier s.
func NewPart(i int, s db.Key[Supplier]) Part {
	j := i % len(names)
	return Part{
		Number:   fmt.Sprintf("%s-%05d", prefixes[j], i),
		Name:     names[j],
		Quantity: int32((i * 37) % 5000),
		Price:    float64((i*13)%1000) / 100,
		Active:   i%7 != 0,
		Category: Category(j % 4),
		Added:    time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour),
		Supplier: s,
		Size:     Size{W: 1.6, H: 0.8},
		Tags:     []string{"smd", fmt.Sprintf("bin-%d", i%12)},
	}
}

// Open opens the demo trees of d.
func Open(d *db.DB) (*db.Tree[Supplier], *db.Tree[Part], error) {
	st, err := db.OpenTree[Supplier](d, "suppliers")
	if err != nil {
		return nil, nil, err
	}
	pt, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		return nil, nil, err
	}
	return st, pt, nil
}

// Seed creates the suppliers and n parts.
func Seed(d *db.DB, n int) error {
	st, pt, err := Open(d)
	if err != nil {
		return err
	}
	var keys []db.Key[Supplier]
	for _, s := range suppliers {
		k, err := st.Create(s)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	for i := range n {
		if _, err := pt.Create(NewPart(i, keys[i%len(keys)])); err != nil {
			return err
		}
	}
	return nil
}
