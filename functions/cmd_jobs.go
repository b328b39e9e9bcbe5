package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// runJobs lists (and resubmits) jobs that could not be processed: Service
// Bus dead letters of the three queues and jobs parked in the state store.
func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dead-letters" {
		fmt.Fprintln(stderr, "Usage: idpkeeper jobs dead-letters [--queue NAME] [--max N] [--resubmit MESSAGE-ID] [--state DIR]")
		return exitUsage
	}
	fs := flag.NewFlagSet("jobs dead-letters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	queue := fs.String("queue", "", "only this queue (default: all three)")
	max := fs.Int("max", 100, "at most this many dead letters per queue, and parked jobs (the newest)")
	resubmit := fs.String("resubmit", "", "move this dead-lettered message back to its queue (needs --queue)")
	stateDir := fs.String("state", "", "state folder holding parked jobs and the ledger (default $"+settingState+")")
	if err := fs.Parse(args[1:]); err != nil {
		return usageCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jobs dead-letters: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *max < 1 {
		fmt.Fprintln(stderr, "jobs dead-letters: --max must be at least 1")
		return exitUsage
	}
	// The config (IDPKEEPER_CONFIG) names the cloud: the state store's and
	// Service Bus's credential get their tokens from its authority.
	cfg, err := loadConfig(ctx, "")
	if err != nil {
		return configFailure(ctx, err, stderr)
	}
	openStore := func() (statestore.Store, error) {
		if *stateDir != "" {
			return statestore.Dir{Root: *stateDir}, nil
		}
		return openState(ctx, cfg)
	}
	if *resubmit != "" && *queue == "" {
		fmt.Fprintln(stderr, "jobs dead-letters: --resubmit needs --queue")
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	// Parked jobs live in the state store: they are listed even where no
	// Service Bus is configured (a 403 parks a job at its first delivery).
	if *resubmit == "" && os.Getenv(jobs.SettingConnection) == "" && os.Getenv(jobs.SettingNamespace) == "" {
		fmt.Fprintf(stderr, "jobs dead-letters: no Service Bus configured (%s or %s): listing parked jobs and the ledger's notice claims only\n", jobs.SettingConnection, jobs.SettingNamespace)
		return listState(ctx, openStore, *max, enc, stderr)
	}
	cred, err := credentialFor(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: %v\n", err)
		return exitRead
	}
	sb, err := jobs.NewServiceBusFromEnv(cred)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: %v\n", err)
		return exitUsage
	}
	defer sb.Close(ctx)
	if *resubmit != "" {
		if err := sb.Resubmit(ctx, *queue, *resubmit); err != nil {
			fmt.Fprintf(stderr, "jobs dead-letters: %v\n", err)
			return exitRead
		}
		fmt.Fprintf(stdout, "resubmitted %s to %s\n", *resubmit, *queue)
		return exitOK
	}
	queues := sb.Queues().Names()
	if *queue != "" {
		queues = []string{*queue}
	}
	for _, q := range queues {
		dls, err := sb.DeadLetters(ctx, q, *max)
		if err != nil {
			fmt.Fprintf(stderr, "jobs dead-letters: %s: %v\n", q, err)
			return exitRead
		}
		for _, d := range dls {
			enc.Encode(map[string]any{"source": "dead-letter", "deadLetter": d})
		}
	}
	return listState(ctx, openStore, *max, enc, stderr)
}

// listState prints what the state store (IDPKEEPER_STATE or --state) holds
// for an operator to act on, one JSON line each:
//   - "parked": jobs parked with their reason — for a 403, the role to
//     grant and where (the newest max);
//   - "stale-claim": notices claimed by a handler that never reported back
//     and whose lease lapsed: probably not sent; the next claim of the stage
//     (the handler's follow-up, or the next scan) sends it;
//   - "lease-resend": notices sent again after such a lapse, under the same
//     idempotency key (one may have reached its recipient twice);
//   - "corrupt-ledger": ledger documents that are not entries; the jobs of
//     their findings are parked until they are repaired or deleted.
//
// Also warned on stderr, each a line, for whoever reads the terminal.
func listState(ctx context.Context, open func() (statestore.Store, error), max int, enc *json.Encoder, stderr io.Writer) int {
	state, err := open()
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: %v\n", err)
		return exitRead
	}
	parked, err := jobs.ListParked(ctx, state, max)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: parked jobs: %v\n", err)
		return exitRead
	}
	for _, p := range parked {
		enc.Encode(map[string]any{"source": "parked", "parked": p})
	}
	rev, err := (&ledger.Ledger{Store: state}).Review(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: ledger: %v\n", err)
		return exitRead
	}
	for _, n := range rev.Stale {
		enc.Encode(map[string]any{"source": "stale-claim", "notice": n})
		fmt.Fprintf(stderr, "warning: notice %s %s on %s was claimed by %s at %s and never reported back: probably not sent; it is sent again at the next claim\n",
			n.FindingID, n.Stage, n.Channel, n.ClaimedBy, n.At.Format(time.RFC3339))
	}
	for _, n := range rev.TakenOver {
		enc.Encode(map[string]any{"source": "lease-resend", "notice": n})
		fmt.Fprintf(stderr, "warning: notice %s %s on %s was sent again after a lapsed claim (%d time(s)): it may have arrived twice, under one idempotency key\n",
			n.FindingID, n.Stage, n.Channel, n.Takeovers)
	}
	for _, c := range rev.Corrupt {
		enc.Encode(map[string]any{"source": "corrupt-ledger", "corrupt": c})
		fmt.Fprintf(stderr, "warning: ledger document %s is not an entry (%s): repair or delete it\n", c.Document, c.Reason)
	}
	return exitOK
}
