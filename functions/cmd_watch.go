package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// settingWatchSchedule is the WatchTimer's NCRONTAB; `watch` without
// --once follows it too.
const settingWatchSchedule = "IDPKEEPER_WATCH_SCHEDULE"

const (
	watchUsage   = "Usage: idpkeeper watch [--snapshot DIR] [--state DIR] [--once] [--format table|json] [--config FILE]"
	historyUsage = "Usage: idpkeeper watch history DEPENDENCY [--days N] [--snapshot DIR] [--state DIR] [--config FILE]"
)

// watchFlags are the flags `watch` and `watch history` share.
type watchFlags struct {
	snapshot, state, config *string
}

func addWatchFlags(fs *flag.FlagSet) watchFlags {
	return watchFlags{
		snapshot: fs.String("snapshot", os.Getenv(settingSnapshot), "read the inventory from this snapshot and replay the watch results recorded with it (offline; default $"+settingSnapshot+")"),
		state:    fs.String("state", "", "folder the histories are kept in (default $"+settingState+"; neither: kept in memory for this run only)"),
		config:   fs.String("config", "", "config file (default $"+settingConfig+")"),
	}
}

// runWatch is `idpkeeper watch`: one round of the WatchTimer (--once) or a
// round at every tick of IDPKEEPER_WATCH_SCHEDULE until interrupted. Exit 0
// when every endpoint is up or merely degraded, 1 while one is down
// (a confirmed outage), 2 usage, 3 when the inventory or state cannot be
// read.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "history" {
		return runWatchHistory(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wf := addWatchFlags(fs)
	once := fs.Bool("once", false, "one round, then exit (default: a round at every tick of $"+settingWatchSchedule+", "+watch.DefaultSchedule+")")
	format := fs.String("format", "table", "table or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, watchUsage)
		fmt.Fprintln(stderr, "       "+strings.TrimPrefix(historyUsage, "Usage: "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "watch: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "watch: --format must be table or json, not %q\n", *format)
		return exitUsage
	}
	expr := strings.TrimSpace(os.Getenv(settingWatchSchedule))
	if expr == "" {
		expr = watch.DefaultSchedule
	}
	schedule, err := watch.ParseSchedule(expr)
	if err != nil {
		fmt.Fprintf(stderr, "watch: %s: %v\n", settingWatchSchedule, err)
		return exitUsage
	}
	if !*once && *wf.snapshot != "" {
		fmt.Fprintln(stderr, "watch: a snapshot is one moment, replayed once: add --once")
		return exitUsage
	}
	w, code := openWatch(ctx, wf, "watch", stderr)
	if code != exitOK {
		return code
	}
	for {
		run, err := w.p.Watch(ctx, "cli:"+time.Now().UTC().Format(time.RFC3339), &w.inv)
		if err != nil {
			fmt.Fprintf(stderr, "watch: %v\n", err)
			return exitRead
		}
		for _, pr := range run.Outcome.Problems {
			fmt.Fprintln(stderr, "watch: history: "+pr)
		}
		if *format == "json" {
			writeWatchJSON(stdout, run)
		} else {
			writeWatchTable(stdout, run, w.kept)
		}
		code := exitOK
		for _, s := range run.Outcome.Statuses {
			if s.Down {
				code = exitFindings
			}
		}
		if *once {
			return code
		}
		next := schedule.Next(time.Now())
		if next.IsZero() {
			fmt.Fprintf(stderr, "watch: %s never fires\n", expr)
			return exitUsage
		}
		select {
		case <-ctx.Done():
			return code
		case <-time.After(time.Until(next)):
		}
	}
}

// openedWatch is what a watch command works on.
type openedWatch struct {
	p    *pipeline.Pipeline
	inv  inventory.Inventory
	kept string // where histories and notices are kept ("" for memory)
}

// openWatch reads the config, the state and the inventory: a snapshot's,
// else the one the last timer scan stored in the state, else the live
// tenant's.
func openWatch(ctx context.Context, wf watchFlags, cmd string, stderr io.Writer) (openedWatch, int) {
	cfg, err := loadConfig(ctx, *wf.config)
	if err != nil {
		return openedWatch{}, configFailure(ctx, err, stderr)
	}
	var state statestore.Store
	kept := ""
	switch {
	case *wf.state != "":
		state, kept = statestore.Dir{Root: *wf.state}, *wf.state
	case os.Getenv(settingState) != "":
		if state, err = openState(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return openedWatch{}, exitRead
		}
		kept = state.Describe()
	default:
		state = &watch.Memory{}
	}
	src := scan.Source{SnapshotDir: *wf.snapshot}
	clock, err := clockFor(src, time.Time{})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return openedWatch{}, exitRead
	}
	channels := []notify.Channel{}
	if kept != "" {
		// Notices are kept with the state (outbox/<date>/…), never mailed
		// from the command line: the WatchTimer mails.
		channels = []notify.Channel{notify.Store{State: state, Now: clock, Logger: funchost.NewLogger(stderr, stderr, slog.LevelWarn)}}
	}
	if src.SnapshotDir == "" {
		if src, err = sourceFor("", cfg); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return openedWatch{}, exitRead
		}
	}
	p, err := newPipeline(pipelineParts{Config: cfg, Source: src, State: state, Channels: channels, Stdout: io.Discard,
		Logger: funchost.NewLogger(stderr, stderr, slog.LevelWarn), Now: clock, ProbeCredentials: probeCredentialsFromSettings()})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return openedWatch{}, exitRead
	}
	if kept == "" {
		p.Notifier = nil
	}
	w := openedWatch{p: p, kept: kept}
	if src.SnapshotDir == "" {
		si, err := p.LoadInventory(ctx)
		switch {
		case err == nil:
			w.inv = si.Inventory
			return w, exitOK
		case !errors.Is(err, pipeline.ErrNoInventory):
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return openedWatch{}, exitRead
		}
	}
	t, err := scan.OpenContext(ctx, cfg, src)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return openedWatch{}, exitRead
	}
	if w.inv, err = t.Reader.Read(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return openedWatch{}, exitRead
	}
	return w, exitOK
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

func writeWatchTable(w io.Writer, run pipeline.WatchRun, kept string) {
	out := run.Outcome
	fmt.Fprintf(w, "Endpoint watch at %s: %d endpoints", out.At.Format("2006-01-02 15:04 UTC"), len(out.Endpoints))
	if out.Unchecked > 0 {
		fmt.Fprintf(w, ", %d not checked this round", out.Unchecked)
	}
	if kept == "" {
		fmt.Fprint(w, " (history kept in memory only: give --state DIR to keep it)")
	} else {
		fmt.Fprintf(w, " (history in %s)", kept)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPENDENCY\tROLE\tENDPOINT\tLAST\tLATENCY\t1D\t7D\t30D\tTLS EXPIRES\tOUTAGE SINCE")
	for i, ep := range out.Endpoints {
		s, ok := out.Statuses[ep.Key]
		last, latency := "not checked", "-"
		if r := out.Results[i]; r.State != "" {
			last = string(r.State) + " (" + r.Class + ")"
			if r.State != watch.Skipped {
				latency = fmt.Sprintf("%d ms", r.LatencyMs)
			}
		}
		role := string(ep.Role)
		if ep.Step != "" {
			role += " " + string(ep.Step)
		}
		since, tlsLeft := "-", "-"
		var a1, a7, a30 *float64
		if ok {
			a1, a7, a30 = s.Availability.Day1, s.Availability.Day7, s.Availability.Day30
			switch {
			case s.Down:
				since = s.Outage.Since.Format("2006-01-02 15:04")
			case s.Outage != nil:
				since = "failing, not yet down"
			}
			if d := tlsDaysLeft(s.TLS, out.At); d != nil {
				tlsLeft = fmt.Sprintf("%d days", *d)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ep.Dependency.Name, role, ep.Display, last, latency, pct(a1), pct(a7), pct(a30), tlsLeft, since)
	}
	tw.Flush()
	if len(run.Findings) > 0 {
		fmt.Fprintln(w)
		for _, f := range run.Findings {
			fmt.Fprintf(w, "%-8s %-22s %s\n    %s\n", f.Severity, f.Kind, f.Dependency.Name, f.Action)
		}
	}
	if len(run.Notices) > 0 {
		fmt.Fprintf(w, "\n%d notices kept in %s (outbox/…)\n", len(run.Notices), kept)
	}
}

// watchJSON is `watch --format json`.
type watchJSON struct {
	At        time.Time          `json:"at"`
	Endpoints []watchEndpointOut `json:"endpoints"`
	Unchecked int                `json:"unchecked"`
	Findings  []assess.Finding   `json:"findings"`
	Notices   int                `json:"notices"`
}

type watchEndpointOut struct {
	watch.EndpointInfo
	Last         *watch.Result  `json:"last"`
	Availability any            `json:"availability"`
	Down         bool           `json:"down"`
	OutageSince  *time.Time     `json:"outageSince"`
	TLS          *watch.TLSInfo `json:"tls,omitempty"`
	// TLSDaysLeft is the whole days until the presented chain's first
	// certificate expires (negative once expired).
	TLSDaysLeft *int `json:"tlsDaysLeft,omitempty"`
}

func tlsDaysLeft(t *watch.TLSInfo, now time.Time) *int {
	if t == nil || t.NotAfter.IsZero() {
		return nil
	}
	d := int(t.Expires().Sub(now).Hours() / 24)
	return &d
}

func writeWatchJSON(w io.Writer, run pipeline.WatchRun) {
	out := watchJSON{At: run.Outcome.At, Unchecked: run.Outcome.Unchecked, Findings: run.Findings, Notices: len(run.Notices), Endpoints: []watchEndpointOut{}}
	if out.Findings == nil {
		out.Findings = []assess.Finding{}
	}
	for i, ep := range run.Outcome.Endpoints {
		e := watchEndpointOut{EndpointInfo: watch.InfoOf(ep)}
		if r := run.Outcome.Results[i]; r.State != "" {
			e.Last = &r
		}
		if s, ok := run.Outcome.Statuses[ep.Key]; ok {
			e.Availability, e.Down, e.TLS, e.TLSDaysLeft = s.Availability, s.Down, s.TLS, tlsDaysLeft(s.TLS, run.Outcome.At)
			if s.Down {
				t := s.Outage.Since
				e.OutageSince = &t
			}
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(out)
}

// runWatchHistory is `idpkeeper watch history DEPENDENCY [--days N]`: the
// day-by-day record of each endpoint of one dependency (a ref, a Graph ID,
// a display name, or one of a partner's domains), with its outages.
func runWatchHistory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wf := addWatchFlags(fs)
	days := fs.Int("days", 7, "how many days to show (1-90)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, historyUsage)
		fs.PrintDefaults()
	}
	dep, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if dep == "" && fs.NArg() == 1 {
		dep = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "watch history: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if dep == "" {
		fs.Usage()
		return exitUsage
	}
	if *days < 1 || *days > watch.KeepDays {
		fmt.Fprintf(stderr, "watch history: --days must be 1-%d\n", watch.KeepDays)
		return exitUsage
	}
	w, code := openWatch(ctx, wf, "watch history", stderr)
	if code != exitOK {
		return code
	}
	var eps []watch.Endpoint
	for _, ep := range watch.Endpoints(w.inv, w.p.Config) {
		if matchesDependency(w.inv, ep, dep) {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		fmt.Fprintf(stderr, "watch history: no watched endpoint belongs to %q (give a dependency ref such as federation/<id>, its name, or a partner's domain)\n", dep)
		return exitUsage
	}
	now := time.Now().UTC()
	if w.p.Now != nil {
		now = w.p.Now().UTC()
	}
	store := w.p.WatchStore()
	rules := watch.RulesFrom(w.p.Config)
	for i, ep := range eps {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		h, _, err := store.Load(ctx, ep.Key)
		if err != nil {
			fmt.Fprintf(stderr, "watch history: %v\n", err)
			return exitRead
		}
		writeHistory(stdout, ep, h, now, *days, rules)
	}
	return exitOK
}

func matchesDependency(inv inventory.Inventory, ep watch.Endpoint, q string) bool {
	d := ep.Dependency
	if inventory.SameRef(d.Ref, q) || strings.EqualFold(d.ID, q) || strings.EqualFold(d.Name, q) {
		return true
	}
	for _, dom := range ep.Domains {
		if strings.EqualFold(dom, q) || inventory.SameRef("federation/"+dom, q) {
			return true
		}
	}
	return false
}

// writeHistory prints one endpoint's days (newest first) and outages.
func writeHistory(w io.Writer, ep watch.Endpoint, h *watch.History, now time.Time, days int, rules watch.Rules) {
	role := string(ep.Role)
	if ep.Step != "" {
		role += " (" + string(ep.Step) + ")"
	}
	fmt.Fprintf(w, "%s — %s %s\n", ep.Dependency.Name, role, ep.Display)
	if h == nil {
		fmt.Fprintln(w, "  never checked")
		return
	}
	s := watch.StatusOf(h, now, rules)
	state := "up"
	switch {
	case s.Down:
		state = "DOWN since " + s.Outage.Since.Format("2006-01-02 15:04 UTC")
	case s.Outage != nil:
		state = fmt.Sprintf("failing (%d checks), not yet down", s.Outage.Failures)
	case s.Last == nil:
		state = "no check yet"
	case s.Last.State == watch.Skipped:
		state = "not checked (" + s.Last.Class + ")"
	}
	fmt.Fprintf(w, "  now: %s; availability 1d %s, 7d %s, 30d %s", state, pct(s.Availability.Day1), pct(s.Availability.Day7), pct(s.Availability.Day30))
	if s.TLS != nil {
		fmt.Fprintf(w, "; TLS certificate %s valid until %s", s.TLS.Subject, s.TLS.Expires().Format("2006-01-02"))
	}
	fmt.Fprintln(w)
	type row struct {
		date              string
		up, down, skipped int
		latSum, latMax    int64
	}
	rows := map[string]*row{}
	get := func(d string) *row {
		if rows[d] == nil {
			rows[d] = &row{date: d}
		}
		return rows[d]
	}
	for _, d := range h.Days {
		r := get(d.Date)
		r.up, r.down, r.skipped, r.latSum, r.latMax = d.Up, d.Down, d.Skipped, d.LatencyMsSum, d.LatencyMsMax
	}
	for _, res := range h.Results {
		if res.At.After(now) {
			continue
		}
		r := get(res.At.Format("2006-01-02"))
		switch res.State {
		case watch.Up:
			r.up++
			r.latSum += res.LatencyMs
			r.latMax = max(r.latMax, res.LatencyMs)
		case watch.Down:
			r.down++
		default:
			r.skipped++
		}
	}
	first := now.AddDate(0, 0, -(days - 1)).Format("2006-01-02")
	var dates []string
	for d := range rows {
		if d >= first && d <= now.Format("2006-01-02") {
			dates = append(dates, d)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dates)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  DATE\tCHECKS\tUP\tDOWN\tAVAILABILITY\tAVG LATENCY\tMAX LATENCY")
	for _, d := range dates {
		r := rows[d]
		avail, avg := "-", "-"
		if n := r.up + r.down; n > 0 {
			avail = fmt.Sprintf("%.1f%%", float64(r.up)*100/float64(n))
		}
		if r.up > 0 {
			avg = fmt.Sprintf("%d ms", r.latSum/int64(r.up))
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%s\t%d ms\n", d, r.up+r.down+r.skipped, r.up, r.down, avail, avg, r.latMax)
	}
	tw.Flush()
	var outages []watch.Outage
	for _, o := range h.Outages {
		if o.Until != nil && o.Until.Format("2006-01-02") >= first {
			outages = append(outages, o)
		}
	}
	if s.Down {
		outages = append(outages, *s.Outage)
	}
	for _, o := range outages {
		until := "still down"
		if o.Until != nil {
			until = "until " + o.Until.Format("2006-01-02 15:04") + " (" + o.Until.Sub(o.Since).Round(time.Minute).String() + ")"
		}
		fmt.Fprintf(w, "  outage: since %s %s, %d failed checks, last %s\n", o.Since.Format("2006-01-02 15:04"), until, o.Failures, o.Class)
	}
}
