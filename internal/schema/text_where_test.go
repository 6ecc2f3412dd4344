package schema

import (
	"errors"
	"strings"
	"testing"
)

// A JSON text that does not parse is an error saying where: line and
// column, counted from 1.
func TestFromTextSaysWhere(t *testing.T) {
	typ := &Type{Kind: Struct}
	for _, c := range []struct{ text, want string }{
		{"{\n  \"number\": \"a\",\n  \"qty\": 4x\n}", "line 3, column 11"},
		{"{\"a\": 1,,}", "line 1, column 9"},
		{"{\n  \"a\": [1, 2", "line 2, column 13"},
		{"{} {}", "more than one JSON value"},
		{"{\"é\": 1 2}", "line 1, column 9"},
	} {
		_, err := FromText(c.text, typ, nil)
		if !errors.Is(err, ErrText) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromText(%q): %v, want ErrText saying %q", c.text, err, c.want)
		}
	}
}
