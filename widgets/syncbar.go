package widgets

import (
	"fmt"
	"image"

	"gioui.org/layout"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/netsync"
)

// SyncBar shows the sync status of a replica: connected or not, the
// server, the outbox length and the last error, and a progress bar while
// the replica catches up with the server's log. Status is read in every
// frame (it takes a lock, no I/O); nil Status shows a standalone database.
type SyncBar struct {
	Status func() netsync.Status
	// Local describes a standalone database, such as its directory.
	Local string
}

// Progress returns the catch-up progress from 0 to 1 and whether the
// replica is catching up.
func Progress(s netsync.Status) (float32, bool) {
	if !s.Connected || s.CaughtUp {
		return 1, false
	}
	if s.ServerSeq == 0 {
		return 0, true
	}
	return min(1, float32(s.LastSeq)/float32(s.ServerSeq)), true
}

// Text returns the bar's text for status s.
func (b *SyncBar) Text(s netsync.Status) string {
	state := "offline"
	switch {
	case s.Connected && s.CaughtUp:
		state = "connected"
	case s.Connected:
		state = "catching up"
	}
	t := fmt.Sprintf("%s · %s · seq %d", state, s.Server, s.LastSeq)
	if s.Outbox > 0 {
		t += fmt.Sprintf(" · %d to send", s.Outbox)
	}
	return t
}

// Layout draws the bar across the width.
func (b *SyncBar) Layout(gtx layout.Context, th *Theme) layout.Dimensions {
	return Background(gtx, th.Header, func(gtx layout.Context) layout.Dimensions {
		gtx.Constraints.Min.X = gtx.Constraints.Max.X
		return layout.Inset{Top: 5, Bottom: 5, Left: 10, Right: 10}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			if b.Status == nil {
				return th.MutedLabel("local database · " + b.Local).Layout(gtx)
			}
			s := b.Status()
			dot := th.Muted
			switch {
			case s.Connected && s.CaughtUp:
				dot = th.Good
			case s.Connected:
				dot = th.Warn
			case s.Err != nil:
				dot = th.Error
			}
			p, catching := Progress(s)
			return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					sz := gtx.Dp(8)
					return layout.Inset{Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						rect(gtx, dot, image.Pt(sz, sz))
						return layout.Dimensions{Size: image.Pt(sz, sz)}
					})
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					return th.Label(b.Text(s)).Layout(gtx)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if !catching {
						return layout.Dimensions{}
					}
					return layout.Inset{Left: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(160), gtx.Dp(6)))
						return material.ProgressBar(th.Theme, p).Layout(gtx)
					})
				}),
				layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
					if s.Err == nil {
						return layout.Dimensions{Size: image.Pt(gtx.Constraints.Min.X, 0)}
					}
					return layout.Inset{Left: 12}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						l := th.Label(s.Err.Error())
						l.Color = th.Error
						return l.Layout(gtx)
					})
				}),
			)
		})
	})
}
