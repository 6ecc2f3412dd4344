package fold

import (
	"strings"
	"testing"
)

// cases are shared with the test that the table's filter and IndexSearch
// agree (in widgets): text, query, whether the text contains the query.
var containsCases = []struct {
	text, query string
	want        bool
}{
	{"MÜLLER", "müller", true},
	{"müller", "MÜLLER", true},
	{"Herr Müller", "MÜL", true},
	{"MÜLLER", "muller", false},
	{"ǅemal", "ǆemal", true}, // Dž titlecase, lowercase, uppercase
	{"ǄEMAL", "ǅemal", true},
	{"ǆemal", "Ǆ", true},
	{"ΟΔΟΣ", "οδος", true}, // capital sigma and final sigma
	{"οδος", "ΟΔΟΣ", true},
	{"ΟΔΟΣ", "οδοσ", true},
	{"Σίσυφος", "ΣΊΣΥΦΟΣ", true},
	{"STRASSE", "straße", true},
	{"Straße", "STRASSE", true},
	{"Straße", "strasse", true},
	{"\u212Aelvin", "kelvin", true}, // Kelvin sign
	{"Kelvin", "\u212A", true},
	{"Spring Washer", "WASHER", true},
	{"Spring Washer", "g w", true},
	{"Spring Washer", "bolt", false},
	{"RC0603-00001", "rc0603", true},
	{"ab", "abc", false},
	{"", "a", false},
	{"anything", "", true},
}

func TestContains(t *testing.T) {
	for _, c := range containsCases {
		if got := Contains(c.text, String(c.query)); got != c.want {
			t.Errorf("Contains(%q, String(%q) = %q) = %v, want %v", c.text, c.query, String(c.query), got, c.want)
		}
	}
}

func TestStringIsIdempotent(t *testing.T) {
	for _, c := range containsCases {
		for _, s := range []string{c.text, c.query} {
			if f := String(s); String(f) != f {
				t.Errorf("String(String(%q)) = %q, String once %q", s, String(f), f)
			}
		}
	}
}

// TestContainsASCIIDoesNotAllocate checks the common path: ASCII text.
func TestContainsASCIIDoesNotAllocate(t *testing.T) {
	text := strings.Repeat("Resistor 10k RC0603 ", 20)
	q := String("RC0603 X")
	if n := testing.AllocsPerRun(100, func() { Contains(text, q) }); n != 0 {
		t.Fatalf("Contains of ASCII text: %v allocations, want 0", n)
	}
}

func BenchmarkContains(b *testing.B) {
	for _, c := range []struct{ name, text, query string }{
		{"ascii", `{"number": "RC0603-00042", "name": "Resistor 10k", "tags": ["bin-1", "smd"]}`, "RESISTOR 10K"},
		{"ascii-miss", `{"number": "RC0603-00042", "name": "Resistor 10k", "tags": ["bin-1", "smd"]}`, "capacitor"},
		{"unicode", `{"number": "RC0603-00042", "name": "Widerstand 10k", "supplier": "Müller Straße"}`, "MÜLLER STRASSE"},
	} {
		q := String(c.query)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Contains(c.text, q)
			}
		})
	}
}
