package netsync

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
)

// RestoreOptions configure Restore. The zero value is usable.
type RestoreOptions struct {
	// Force replaces a directory that is not empty: it is moved aside to
	// DIR.before-restore-STAMP (never deleted: it may hold changes the
	// backup lacks). Default false: such a directory is refused.
	Force bool
	// Logger receives the restore's log lines. Default slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called as the restore reaches each stage:
	// "copying" (a first file is copied), "copied", "marked", "replacing", "moved aside" (when
	// the directory replaced was), "done".
	Progress func(stage string)
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	ServerID string // the server's UUID: a restore keeps it
	Lineage  string // the restored store's new lineage
	Previous string // the backup's lineage
	Seq      uint64 // the log sequence the backup holds
	Aside    string // where the directory replaced went; "" when none
}

// restoringSuffix names the directory a restore writes before it puts it
// in place.
const restoringSuffix = ".restoring"

// Restore makes dir a copy of the server store backup (a
// hills-server backup directory or a copy of a stopped server's
// directory) with a new lineage, so that every replica that synced with
// the server knows it was restored and takes its state without losing
// anything (see ErrServerRestored). The copy is written beside dir and
// put in place by a rename once complete and synced: interrupted at any
// point, dir is either what it was or the whole restored store, and a
// server refuses to start on dir until the restore is run again.
// Restore refuses a dir that a running server uses, and one that is not
// empty unless opts.Force.
func Restore(backup, dir string, opts *RestoreOptions) (RestoreResult, error) {
	var o RestoreOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	progress := func(stage string) {
		if o.Progress != nil {
			o.Progress(stage)
		}
	}
	var res RestoreResult
	backup, dir, err := restorePaths(backup, dir)
	if err != nil {
		return res, err
	}
	lock, err := restoreTarget(dir, o.Force)
	if err != nil {
		return res, err
	}
	if lock != nil {
		defer lock.Close()
	}
	tmp := dir + restoringSuffix
	if err := os.RemoveAll(tmp); err != nil { // what an interrupted restore left
		return res, fmt.Errorf("netsync: restore: %w", err)
	}
	if err := copyDir(backup, tmp, func() { progress("copying") }); err != nil {
		return res, fmt.Errorf("netsync: restore: copy %s: %w", backup, err)
	}
	progress("copied")
	res, err = markRestored(tmp, backup)
	if err != nil {
		return res, err
	}
	progress("marked")
	if err := syncDir(tmp); err != nil {
		return res, err
	}
	progress("replacing")
	if entries, err := os.ReadDir(dir); err == nil {
		if len(entries) > 0 {
			res.Aside = fmt.Sprintf("%s.before-restore-%s", dir, time.Now().UTC().Format("20060102-150405"))
			if err := os.Rename(dir, res.Aside); err != nil {
				return res, fmt.Errorf("netsync: restore: move %s aside: %w", dir, err)
			}
			progress("moved aside")
		} else if err := os.Remove(dir); err != nil {
			return res, fmt.Errorf("netsync: restore: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return res, fmt.Errorf("netsync: restore: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return res, err
	}
	progress("done")
	o.Logger.Info("server store restored from a backup", "backup", backup, "data", dir, "server", res.ServerID,
		"lineage", res.Lineage, "backup_lineage", res.Previous, "seq", res.Seq, "moved_aside", res.Aside)
	return res, nil
}

func restorePaths(backup, dir string) (string, string, error) {
	b, err := filepath.Abs(backup)
	if err != nil {
		return "", "", err
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if b == d {
		return "", "", errors.New("netsync: restore: the backup and the data directory are the same")
	}
	st, err := os.Stat(b)
	if err != nil {
		return "", "", fmt.Errorf("netsync: restore: backup: %w", err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("netsync: restore: backup %s is not a directory", b)
	}
	if m, _ := filepath.Glob(filepath.Join(b, "MANIFEST-*")); len(m) == 0 {
		return "", "", fmt.Errorf("%w: backup %s holds no store", ErrNotServerStore, b)
	}
	return b, d, nil
}

// restoreTarget refuses a data directory a server runs on, and one that is
// not empty unless force. It returns the store's lock, held until the
// restore is done, so no server starts on it meanwhile; nil when dir is
// empty or absent.
func restoreTarget(dir string, force bool) (io.Closer, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netsync: restore: %w", err)
	}
	if serverRunning(dir) {
		return nil, fmt.Errorf("netsync: restore: %s is in use by a running hills-server: stop it first", dir)
	}
	if !force {
		return nil, fmt.Errorf("netsync: restore: %s is not empty: restore into a new directory, or use --force to move it aside", dir)
	}
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("netsync: restore: %s is in use (a server or another program has its store open): %w", dir, err)
	}
	return lock, nil
}

// markRestored gives the store in dir a new lineage and notes where it
// came from.
func markRestored(dir, backup string) (RestoreResult, error) {
	var res RestoreResult
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := openAuthority(dir, quiet, 0)
	if err != nil {
		return res, fmt.Errorf("netsync: restore: the backup: %w", err)
	}
	res.ServerID, res.Previous, res.Seq = a.id.ID, a.id.Lineage, a.seq
	id := *a.id
	id.Lineage, id.RestoredFrom, id.RestoredAt = uuid.NewString(), backup, time.Now().UnixNano()
	err = a.setMsgpack(identityKey, &id)
	if cerr := a.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("netsync: restore: %w", err)
	}
	res.Lineage = id.Lineage
	return res, nil
}

// copyDir copies the regular files of the store in from into a new
// directory to, each synced; the admin socket and the pid file stay.
// started is called once the first file is copied.
func copyDir(from, to string, started func()) error {
	if err := os.Mkdir(to, 0o700); err != nil {
		return err
	}
	n := 0
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil || rel == "." {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(dst, 0o700)
		case !d.Type().IsRegular(), d.Name() == "hills-server.pid", d.Name() == "LOCK":
			return nil
		}
		if err := copyFile(path, dst); err != nil {
			return err
		}
		if n++; n == 1 {
			started()
		}
		return nil
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("netsync: restore: sync %s: %w", dir, err)
	}
	return nil
}

// serverRunning reports whether a server answers on dir's admin socket.
func serverRunning(dir string) bool {
	c, err := net.DialTimeout("unix", filepath.Join(dir, "admin.sock"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// checkRestoring refuses a data directory whose restore did not finish.
func checkRestoring(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs + restoringSuffix); err == nil {
		return fmt.Errorf("%w: %s%s is left: run hills-server restore again", errRestoring, abs, restoringSuffix)
	}
	return nil
}
