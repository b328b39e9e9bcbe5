package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// runAck pauses reminders for a finding until a date: the command-line twin
// of the acknowledgement link in notices.
func runAck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	until := fs.String("until", "", "pause reminders until this date (YYYY-MM-DD, at most 90 days ahead)")
	note := fs.String("note", "", "why (kept in the ledger)")
	stateDir := fs.String("state", "", "state folder (default $"+settingState+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper ack FINDING --until DATE [--note TEXT] [--state DIR]")
		fs.PrintDefaults()
	}
	finding, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if finding == "" && fs.NArg() == 1 {
		finding = fs.Arg(0)
	}
	if finding == "" || *until == "" {
		fs.Usage()
		return exitUsage
	}
	if err := ledger.CheckID(finding); err != nil {
		fmt.Fprintf(stderr, "ack: %v\n", err)
		return exitUsage
	}
	end, err := parseAckUntil(*until, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "ack: %v\n", err)
		return exitUsage
	}
	var state statestore.Store
	if *stateDir != "" {
		state = statestore.Dir{Root: *stateDir}
	} else {
		// The config (IDPKEEPER_CONFIG) names the cloud whose authority
		// the state store's credential uses.
		cfg, err := loadConfig(ctx, "")
		if err != nil {
			return configFailure(ctx, err, stderr)
		}
		if state, err = openState(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "ack: %v\n", err)
			return exitRead
		}
	}
	by := "cli"
	if u, err := user.Current(); err == nil {
		by = "cli:" + u.Username
	}
	e, err := (&ledger.Ledger{Store: state}).Acknowledge(ctx, finding, end, by, *note)
	if errors.Is(err, ledger.ErrUnknownFinding) {
		fmt.Fprintf(stderr, "ack: %s is not in the ledger at %s (has a scan with notices run?)\n", finding, state.Describe())
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "ack: %v\n", err)
		return exitRead
	}
	fmt.Fprintf(stdout, "reminders for %s paused until %s\n", finding, e.Ack.Until.Format("2006-01-02"))
	return exitOK
}
