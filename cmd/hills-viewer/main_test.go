package main

import "testing"

func TestParseFlags(t *testing.T) {
	t.Setenv("HILLS_SERVER", "")
	t.Setenv("HILLS_DATA", "")
	cfg, st, err := parseFlags([]string{"-tree", "parts", "-select", "3.0", "/tmp/x"})
	if err != nil || cfg.Dir != "/tmp/x" || cfg.Server != "" || st.tree != "parts" || st.key != "3.0" {
		t.Fatalf("local: %+v %+v %v", cfg, st, err)
	}
	t.Setenv("XDG_CACHE_HOME", "/tmp/cache")
	t.Setenv("HILLS_TOKEN", "")
	cfg, _, err = parseFlags([]string{"-server", "h:1", "-token", "hills1-x"})
	if err != nil || cfg.Dir != "/tmp/cache/hills-viewer/h_1" || cfg.Token != "hills1-x" {
		t.Fatalf("server: %+v %v", cfg, err)
	}
	if _, _, err := parseFlags(nil); err == nil {
		t.Fatal("no directory and no server: no error")
	}
	if _, _, err := parseFlags([]string{"a", "b"}); err == nil {
		t.Fatal("two directories: no error")
	}
}
