package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/idpkeeper/idpkeeper/shared/jobs"
)

// runJobs lists (and resubmits) jobs that could not be processed: Service
// Bus dead letters of the three queues and jobs parked in the state store.
func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dead-letters" {
		fmt.Fprintln(stderr, "Usage: idpkeeper jobs dead-letters [--queue NAME] [--max N] [--resubmit MESSAGE-ID]")
		return exitUsage
	}
	fs := flag.NewFlagSet("jobs dead-letters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	queue := fs.String("queue", "", "only this queue (default: all three)")
	max := fs.Int("max", 100, "at most this many dead letters per queue")
	resubmit := fs.String("resubmit", "", "move this dead-lettered message back to its queue (needs --queue)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageCode(err)
	}
	if *resubmit != "" && *queue == "" {
		fmt.Fprintln(stderr, "jobs dead-letters: --resubmit needs --queue")
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	// Parked jobs live in the state store: they are listed even where no
	// Service Bus is configured (a 403 parks a job at its first delivery).
	if *resubmit == "" && os.Getenv(jobs.SettingConnection) == "" && os.Getenv(jobs.SettingNamespace) == "" {
		fmt.Fprintf(stderr, "jobs dead-letters: no Service Bus configured (%s or %s): listing parked jobs only\n", jobs.SettingConnection, jobs.SettingNamespace)
		return listParked(ctx, enc, stderr)
	}
	cred, err := credential(nil)
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
	return listParked(ctx, enc, stderr)
}

// listParked prints the jobs parked in the state store (IDPKEEPER_STATE),
// each with its reason — for a 403, the role to grant and where.
func listParked(ctx context.Context, enc *json.Encoder, stderr io.Writer) int {
	state, err := openState(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: %v\n", err)
		return exitRead
	}
	parked, err := jobs.ListParked(ctx, state)
	if err != nil {
		fmt.Fprintf(stderr, "jobs dead-letters: parked jobs: %v\n", err)
		return exitRead
	}
	for _, p := range parked {
		enc.Encode(map[string]any{"source": "parked", "parked": p})
	}
	return exitOK
}
