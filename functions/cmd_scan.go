package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	snapshotDir := fs.String("snapshot", os.Getenv(settingSnapshot), "scan this snapshot folder instead of the live tenant (default $"+settingSnapshot+")")
	configPath := fs.String("config", "", "config file (default $"+settingConfig+", else built-in defaults)")
	nowFlag := fs.String("now", "", "evaluate as of this time (RFC 3339 or YYYY-MM-DD); default: the snapshot's capture time, or now")
	format := fs.String("format", "table", "output format: table or json")
	failOn := fs.String("fail-on", "never", "exit 1 when a finding is at least this severe: info, warning, critical, expired, or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper scan [--snapshot DIR] [--config FILE] [--now TIME] [--format table|json] [--fail-on SEVERITY]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scan: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "scan: --format must be table or json, not %q\n", *format)
		return exitUsage
	}
	// Check --fail-on before reading anything, so a typo fails fast.
	if _, err := report.ExitCode(report.Report{}, *failOn); err != nil {
		fmt.Fprintf(stderr, "scan: --fail-on: %v\n", err)
		return exitUsage
	}
	at, err := parseNow(*nowFlag)
	if err != nil {
		fmt.Fprintf(stderr, "scan: --now: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	src, err := sourceFor(*snapshotDir)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	md, err := metadataOptions(ctx, *snapshotDir)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	res, err := scan.Run(ctx, scan.Options{Config: cfg, Source: src, Now: at, Metadata: md})
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	if err := report.Write(stdout, res.Report, *format); err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitRead
	}
	code, _ := report.ExitCode(res.Report, *failOn)
	return code
}

// sourceFor is where a scan reads from: the snapshot folder when one is
// named, else the live tenant with the ambient Azure credential.
func sourceFor(snapshotDir string) (scan.Source, error) {
	if snapshotDir != "" {
		return scan.Source{SnapshotDir: snapshotDir}, nil
	}
	cred, err := credential()
	if err != nil {
		return scan.Source{}, err
	}
	return scan.Source{Credential: cred}, nil
}

func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
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
