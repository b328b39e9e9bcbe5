// Command idpkeeper keeps a Microsoft Entra tenant's external sign-in working.
//
// One binary, two doors into the same use cases: `idpkeeper serve` is the
// Azure Functions custom handler, and every other subcommand is the admin
// command line. Both call the packages under shared/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in README.md and docs/report-schema.md.
const (
	exitOK       = 0
	exitFindings = 1 // --fail-on threshold reached, or a check failed
	exitUsage    = 2 // bad flags, bad config
	exitRead     = 3 // the tenant or snapshot could not be read
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"scan", "assess the tenant (or a snapshot) and print the report", runScan},
		{"snapshot", "snapshot export DIR: record what a scan reads, for offline runs", runSnapshot},
		{"metadata", "metadata inspect|plan: read and verify SAML/WS-Fed partner metadata", runMetadata},
		{"run", "run --snapshot DIR --state DIR --outbox DIR: scan → jobs → handlers → notices in one process (dry run)", runRun},
		{"events", "events handle FILE: feed Key Vault events to the KeyVaultEvents code; one JSON line per event", runEvents},
		{"jobs", "jobs dead-letters: list or resubmit jobs that could not be processed", runJobs},
		{"ack", "ack FINDING --until DATE: pause reminders for a finding", runAck},
		{"approve", "approve PLAN-ID [--apply]: apply a proposed federation change", runApprove},
		{"probe", "probe api URL | probe connector ID: check an API against the API connector contract", runProbe},
		{"watch", "watch [--once] | watch history DEPENDENCY: check and keep the availability of every sign-in endpoint", runWatch},
		{"undo", "undo JOURNAL-ID [--apply]: restore what a federation change replaced", runUndo},
		{"serve", "run as the Azure Functions custom handler", runServe},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "idpkeeper", version)
			return exitOK
		}},
	}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// main gives every command a context that SIGINT or SIGTERM cancels:
// commands pass it to config parsing, tenant reads and HTTP requests, so they
// wind down within a second. A second signal is not caught any more and
// ends the process the default way, for a command stuck regardless.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "idpkeeper: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: idpkeeper COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'idpkeeper COMMAND -h' for a command's flags.")
}
