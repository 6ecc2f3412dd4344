// Package app is the scaffold of a hills desktop application: one call
// opens the database (a replica in a per-server cache directory when a
// server is given), connects sync, opens the Gio window, runs the event
// loop and shuts everything down on close or SIGINT.
//
// The core types are Config (flags and environment), App (the open
// database, sync client, watcher and theme) and UI (what draws a frame).
// Main is the usual entry point; Open and App.Loop are its parts, for
// tests and applications that manage windows themselves. App wraps
// gioui.org/app, so applications rarely import both; where one must, alias
// Gio's as gioapp.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	gioapp "gioui.org/app"
	"gioui.org/io/system"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
	"github.com/hillsdb/hills/widgets"
)

// Config says which database to open and how to sync it. RegisterFlags
// fills it from command-line flags whose defaults come from the
// environment.
type Config struct {
	// AppID names the application: servers of other applications are
	// refused, and it names the default directories. Flag -app, env
	// HILLS_APP. Default "hills".
	AppID string
	// Dir is the database directory. Flag -data, env HILLS_DATA.
	// Default: with a server, <user cache dir>/<AppID>/<server address>;
	// without one, <user config dir>/<AppID>/data.
	Dir string
	// Server is the sync server's address (host:port); "" opens a
	// standalone database. Flag -server, env HILLS_SERVER.
	Server string
	// Name is the readable name other users see for this client. Flag
	// -name, env HILLS_NAME. Default: the host name.
	Name string
	// Token is the enrollment token an administrator made for this client
	// (hills-server clients add), passed to the sync client as
	// netsync.ClientOptions.Token. It is needed on first contact only;
	// afterwards the replica authenticates with its own key pair. Flag
	// -token, env HILLS_TOKEN. Default "" (enough for an open server, or
	// a replica enrolled before).
	Token string

	// Title, Width and Height describe the window. Defaults: AppID,
	// 1100 × 700 dp.
	Title         string
	Width, Height unit.Dp

	// DB and Client tune the database and the sync client; nil: defaults.
	// Replica and Name of DB are set from the fields above.
	DB     *db.Options
	Client *netsync.ClientOptions
	Logger *slog.Logger
}

// RegisterFlags defines -app, -data, -server, -name and -token on fs,
// with defaults from c and then the HILLS_* environment variables.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	env := func(v *string, name string) {
		if s := os.Getenv(name); s != "" && *v == "" {
			*v = s
		}
	}
	env(&c.AppID, "HILLS_APP")
	env(&c.Dir, "HILLS_DATA")
	env(&c.Server, "HILLS_SERVER")
	env(&c.Name, "HILLS_NAME")
	env(&c.Token, "HILLS_TOKEN")
	fs.StringVar(&c.AppID, "app", c.AppID, "application id (env HILLS_APP)")
	fs.StringVar(&c.Dir, "data", c.Dir, "database directory (env HILLS_DATA)")
	fs.StringVar(&c.Server, "server", c.Server, "sync server address host:port; empty: standalone (env HILLS_SERVER)")
	fs.StringVar(&c.Name, "name", c.Name, "this client's name shown to other users (env HILLS_NAME)")
	fs.StringVar(&c.Token, "token", c.Token, "enrollment token from hills-server clients add, needed on first contact only (env HILLS_TOKEN)")
}

// SanitizeAddr turns a server address into a directory name.
func SanitizeAddr(addr string) string {
	var b strings.Builder
	for _, r := range addr {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "server"
	}
	return b.String()
}

func (c Config) withDefaults() (Config, error) {
	if c.AppID == "" {
		c.AppID = "hills"
	}
	if c.Title == "" {
		c.Title = c.AppID
	}
	if c.Width == 0 {
		c.Width = 1100
	}
	if c.Height == 0 {
		c.Height = 700
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Dir == "" {
		if c.Server != "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return c, fmt.Errorf("app: no cache directory for the replica (set -data): %w", err)
			}
			c.Dir = filepath.Join(base, c.AppID, SanitizeAddr(c.Server))
		} else {
			base, err := os.UserConfigDir()
			if err != nil {
				return c, fmt.Errorf("app: no config directory for the database (set -data): %w", err)
			}
			c.Dir = filepath.Join(base, c.AppID, "data")
		}
	}
	return c, nil
}

// App is an open application: its database, its sync client (nil when
// standalone), the watcher that redraws the window on changes, and the
// theme. Fields are set by Open and read-only afterwards.
type App struct {
	Config  Config
	DB      *db.DB
	Client  *netsync.Client
	Watcher *widgets.Watcher
	Theme   *widgets.Theme

	win *gioapp.Window
}

// Open opens the database (a replica when cfg.Server is set) and connects
// sync; it does not wait for the server. Close undoes it.
func Open(cfg Config) (*App, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var opts db.Options
	if cfg.DB != nil {
		opts = *cfg.DB
	}
	if !opts.MustExist {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	opts.Replica = cfg.Server != ""
	if cfg.Name != "" {
		opts.Name = cfg.Name
	}
	d, err := db.Open(cfg.Dir, &opts)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, DB: d, Theme: widgets.NewTheme(), win: new(gioapp.Window)}
	a.win.Option(gioapp.Title(cfg.Title), gioapp.Size(cfg.Width, cfg.Height))
	a.Watcher = widgets.NewWatcher(a.invalidate)
	if cfg.Server != "" {
		var co netsync.ClientOptions
		if cfg.Client != nil {
			co = *cfg.Client
		}
		if co.AppID == "" {
			co.AppID = cfg.AppID
		}
		if cfg.Token != "" {
			co.Token = cfg.Token
		}
		if co.Logger == nil {
			co.Logger = cfg.Logger
		}
		c, err := netsync.Connect(d, cfg.Server, &co)
		if err != nil {
			d.Close()
			return nil, err
		}
		a.Client = c
		a.Watcher.WatchClient(c, 0)
	}
	return a, nil
}

// invalidate asks for a frame; safe before the window opens.
func (a *App) invalidate() { a.win.Invalidate() }

// Status returns the sync status, for widgets.SyncBar; nil when
// standalone.
func (a *App) Status() func() netsync.Status {
	if a.Client == nil {
		return nil
	}
	return a.Client.Status
}

// Close stops the watcher and sync and closes the database.
func (a *App) Close() error {
	a.Watcher.Close()
	var errs []error
	if a.Client != nil {
		errs = append(errs, a.Client.Close())
	}
	errs = append(errs, a.DB.Close())
	return errors.Join(errs...)
}

// UI draws one frame of the application.
type UI interface {
	Layout(gtx layout.Context) layout.Dimensions
}

// Window returns the window Loop runs; it opens when Loop starts.
func (a *App) Window() *gioapp.Window { return a.win }

// ErrNoDisplay: the window could not be opened, because no display is
// configured or the display refused it. Loop's error says which.
var ErrNoDisplay = errors.New("app: no display for the window")

// Loop runs the window's event loop with ui until the window is closed
// (nil) or ctx ends (the window is asked to close first). When the window
// cannot be opened at all, Loop returns at once an error matching
// ErrNoDisplay that says whether DISPLAY and WAYLAND_DISPLAY are unset or
// the display they name refused the window.
func (a *App) Loop(ctx context.Context, ui UI) error {
	w := a.Window()
	framed := false
	// The close request is made from the loop's goroutine: the X11
	// driver does not see one sent from another goroutine until its next
	// event. Invalidate wakes the loop.
	stop := context.AfterFunc(ctx, w.Invalidate)
	defer stop()
	closing := false
	var ops op.Ops
	for {
		e := w.Event()
		if ctx.Err() != nil && !closing {
			closing = true
			w.Perform(system.ActionClose)
			w.Invalidate()
		}
		switch e := e.(type) {
		case gioapp.ViewEvent:
			if windowGone(e) {
				// The window library hands out the view's end before
				// the DestroyEvent, and by then has forgotten the
				// window: one more Event would open a new one, which
				// stays on the screen, or whose failure would be taken
				// for this window's. So the loop ends here. What is lost
				// is the error of a GPU failure in a frame, which that
				// DestroyEvent would carry.
				return nil
			}
			if err := setWindowIcon(e); err != nil && a.Config.Logger != nil {
				a.Config.Logger.Warn("window icon", "err", err)
			}
		case gioapp.DestroyEvent:
			if e.Err != nil && !framed {
				return displayError(e.Err)
			}
			return e.Err
		case gioapp.FrameEvent:
			framed = true
			a.Watcher.Frame()
			gtx := gioapp.NewContext(&ops, e)
			widgets.Background(gtx, a.Theme.Bg, func(gtx layout.Context) layout.Dimensions {
				gtx.Constraints.Min = gtx.Constraints.Max
				return ui.Layout(gtx)
			})
			e.Frame(gtx.Ops)
		}
	}
}

// displayError says why a window was not opened. The window library tries
// Wayland, then X, and reports the first driver's error, whichever display
// is set: the variables tell more.
func displayError(err error) error {
	x, wl := os.Getenv("DISPLAY"), os.Getenv("WAYLAND_DISPLAY")
	if x == "" && wl == "" {
		return fmt.Errorf("%w: DISPLAY and WAYLAND_DISPLAY are unset (%v)", ErrNoDisplay, err)
	}
	return fmt.Errorf("%w: the display refused the window (DISPLAY=%q, WAYLAND_DISPLAY=%q): %v", ErrNoDisplay, x, wl, err)
}

// Main opens the application with cfg, builds its UI with setup, runs the
// window until it is closed or the process gets SIGINT or SIGTERM, closes
// everything and exits the process: 0 on success, 1 after printing the
// error. It must be called from the main goroutine and does not return.
func Main(cfg Config, setup func(a *App) (UI, error)) {
	done, err := prepareDisplay()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		err := run(cfg, setup)
		done()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}()
	gioapp.Main()
}

func run(cfg Config, setup func(a *App) (UI, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := Open(cfg)
	if err != nil {
		return err
	}
	ui, err := setup(a)
	if err != nil {
		a.Close()
		return err
	}
	err = a.Loop(ctx, ui)
	if c, ok := ui.(interface{ Close() }); ok {
		c.Close()
	}
	return errors.Join(err, a.Close())
}
