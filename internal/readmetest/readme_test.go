package readmetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// root is the repository's root, where the README's commands run.
const root = "../.."

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goCmd runs the go tool in the repository's root.
func goCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	return cmd
}

// The README's quickstart command, run as written plus -dir (its default,
// parts.db in the working directory, would land in the repository): the
// output is the program's, and a second run finds the first run's parts.
func TestQuickstartAsInREADME(t *testing.T) {
	const cmdline = "go run ./examples/quickstart"
	if !strings.Contains(readme(t), "`"+cmdline+"`") {
		t.Fatalf("the README no longer says %q", cmdline)
	}
	dir := filepath.Join(t.TempDir(), "parts.db")
	args := append(strings.Fields(cmdline)[1:], "-dir", dir)
	out, err := goCmd(t, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -dir %s: %v\n%s", cmdline, dir, err, out)
	}
	want := []string{
		fmt.Sprintf("opened %s: tree \"parts\" holds 0 parts", dir),
		"created 1.0 RC0603FR-0710KL",
		"created 3.0 STM32F103C8T6",
		"updated 1.0 RC0603FR-0710KL: 4750 left, changed 2 times by bench-3",
		"   1.0  RC0603FR-0710KL      Yageo      4750  A1",
		"   3.0  STM32F103C8T6        ST          120  C4",
	}
	for _, w := range want {
		if !strings.Contains(string(out), w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	out, err = goCmd(t, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `holds 3 parts`) {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}

// command is one `go run ./pkg args` line of the README's shell blocks.
type command struct {
	line int
	pkg  string
	args []string
}

// commands lists the go run lines of the README's sh blocks, with
// continuation lines joined and comments cut.
func commands(t *testing.T) []command {
	t.Helper()
	var cmds []command
	sc := bufio.NewScanner(strings.NewReader(readme(t)))
	inSh, n, joined, start := false, 0, "", 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		case !inSh:
			continue
		}
		if joined == "" {
			start = n
		}
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		if strings.HasSuffix(strings.TrimSpace(l), `\`) {
			joined += strings.TrimSuffix(strings.TrimSpace(l), `\`) + " "
			continue
		}
		f := strings.Fields(joined + l)
		joined = ""
		if len(f) >= 3 && f[0] == "go" && f[1] == "run" && strings.HasPrefix(f[2], "./") {
			cmds = append(cmds, command{line: start, pkg: f[2], args: f[3:]})
		}
	}
	return cmds
}

var flagName = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)`)

// Every go run line of the README names a command that builds, and every
// flag it passes is one the command documents in its -h (of the
// subcommand, for hills-server's): the lines that need a server or a
// display cannot all run here, but none may use a flag that is gone.
func TestREADMECommandsUseRealFlags(t *testing.T) {
	cmds := commands(t)
	if len(cmds) < 8 {
		t.Fatalf("found %d go run lines in the README's sh blocks", len(cmds))
	}
	bins := map[string]string{}
	bindir := t.TempDir()
	for _, c := range cmds {
		bin, ok := bins[c.pkg]
		if !ok {
			bin = filepath.Join(bindir, strings.NewReplacer("/", "_", ".", "_").Replace(c.pkg))
			if out, err := goCmd(t, "build", "-o", bin, c.pkg).CombinedOutput(); err != nil {
				t.Fatalf("README line %d: go build %s: %v\n%s", c.line, c.pkg, err, out)
			}
			bins[c.pkg] = bin
		}
		// The help of the command, and of its leading words as
		// subcommands.
		help := ""
		var words []string
		for i := 0; i <= len(c.args); i++ {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			cmd := exec.CommandContext(ctx, bin, append(append([]string{}, words...), "-h")...)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			out, _ := cmd.CombinedOutput()
			cancel()
			help += string(out)
			if i == len(c.args) || strings.HasPrefix(c.args[i], "-") || len(words) == 2 {
				break
			}
			words = append(words, c.args[i])
		}
		for _, a := range c.args {
			m := flagName.FindStringSubmatch(a)
			if m == nil {
				continue
			}
			if !regexp.MustCompile(`(^|[\s\[])--?` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(help) {
				t.Errorf("README line %d: %s has no flag -%s (its help:\n%s)", c.line, c.pkg, m[1], help)
			}
		}
	}
}
