package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTenantFlags(fs)
	format := fs.String("format", "table", "output format: table, json or html (one self-contained page)")
	out := fs.String("out", "", "write the report to this file instead of standard output")
	failOn := fs.String("fail-on", "never", "exit 1 when a finding is at least this severe: info, warning, critical, expired, or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper scan [--snapshot DIR] [--config FILE] [--now TIME] [--format table|json|html] [--out FILE] [--fail-on SEVERITY]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scan: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if !slices.Contains(report.Formats, *format) {
		fmt.Fprintf(stderr, "scan: --format must be table, json or html, not %q\n", *format)
		return exitUsage
	}
	// Check --fail-on before reading anything, so a typo fails fast.
	if _, err := report.ExitCode(report.Report{}, *failOn); err != nil {
		fmt.Fprintf(stderr, "scan: --fail-on: %v\n", err)
		return exitUsage
	}
	in, code := tf.load(ctx, "scan", stderr)
	if code != exitOK {
		return code
	}
	md, err := metadataOptions(ctx, in.SnapshotDir, in.Config)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	opts := scan.Options{Config: in.Config, Source: in.Source, Now: in.At, Metadata: md}
	if in.SnapshotDir == "" {
		// A live scan reports what the endpoint watch recorded in the state
		// (a snapshot carries its own record).
		if opts.WatchState, err = openState(ctx, in.Config); err != nil {
			fmt.Fprintf(stderr, "scan: %v\n", err)
			return exitRead
		}
	}
	res, err := scan.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	if line := scan.Summary(res.Report.Read); line != "" {
		// A live read only: how long it took, what it sent, and the 429s.
		fmt.Fprintf(stderr, "scan: %s\n", line)
	}
	if err := writeReport(stdout, *out, res.Report, *format); err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	code, _ = report.ExitCode(res.Report, *failOn)
	return code
}

// writeReport writes the report to path, or to stdout when path is "". The
// file is written whole or not at all (a temporary file renamed), so a
// page someone has open or mails on is never half a report.
func writeReport(stdout io.Writer, path string, r report.Report, format string) error {
	if path == "" {
		return report.Write(stdout, r, format)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, r, format); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".idpkeeper-report-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// sourceFor is where a scan reads from: the snapshot folder when one is
// named, else the live tenant with the ambient Azure credential of the
// config's cloud.
func sourceFor(snapshotDir string, cfg *config.Config) (scan.Source, error) {
	if snapshotDir != "" {
		return scan.Source{SnapshotDir: snapshotDir}, nil
	}
	cred, err := credentialFor(cfg)
	if err != nil {
		return scan.Source{}, err
	}
	return scan.Source{Credential: cred}, nil
}

// The range --now (and an acknowledgement date) may take. Outside it, date
// arithmetic stops meaning anything ("in 106751 days") or breaks (a year
// past 9999 cannot be written as JSON, so every ledger write would fail).
var (
	earliestNow = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestNow   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			if t.Before(earliestNow) || t.After(latestNow) {
				return time.Time{}, fmt.Errorf("%q is outside the supported range %s to %s", s, earliestNow.Format("2006-01-02"), latestNow.Format("2006-01-02"))
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-24T06:00:00Z) nor a date (2026-11-24)", s)
}

// usageCode maps a flag parse error to an exit code: -h is not a failure.
func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
