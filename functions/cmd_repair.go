package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"

	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// runApprove applies a federation change proposal a person has reviewed:
// `idpkeeper approve PLAN-ID [--apply]`. Without --apply it shows what would
// be written and writes nothing.
func runApprove(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runRepairCommand(ctx, "approve", "PLAN-ID", args, stdout, stderr, func(ctx context.Context, deps repair.Deps, id, by string) (repair.Result, error) {
		return repair.Approve(ctx, deps, id, by)
	})
}

// runUndo restores the values a federation change replaced:
// `idpkeeper undo JOURNAL-ID [--apply]`.
func runUndo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runRepairCommand(ctx, "undo", "JOURNAL-ID", args, stdout, stderr, func(ctx context.Context, deps repair.Deps, id, by string) (repair.Result, error) {
		return repair.Undo(ctx, deps, id, by)
	})
}

func runRepairCommand(ctx context.Context, name, what string, args []string, stdout, stderr io.Writer,
	do func(context.Context, repair.Deps, string, string) (repair.Result, error)) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	apply := fs.Bool("apply", false, "write to the tenant (default: dry run, shows what would be written)")
	configPath := fs.String("config", "", "config file (default $"+settingConfig+")")
	stateDir := fs.String("state", "", "state folder holding proposals and the journal (default $"+settingState+")")
	by := fs.String("by", "", "who approves (default: cli:<user>)")
	format := fs.String("format", "table", "table or json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: idpkeeper %s %s [--apply] [--by NAME] [--config FILE] [--state DIR] [--format table|json]\n", name, what)
		fs.PrintDefaults()
	}
	id, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" || (*format != "table" && *format != "json") {
		fs.Usage()
		return exitUsage
	}
	if err := repair.CheckID(id); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	cfg, err := loadConfig(ctx, *configPath)
	if err != nil {
		return configFailure(ctx, err, stderr)
	}
	cred, err := credentialFor(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRead
	}
	var state statestore.Store = statestore.Dir{Root: *stateDir}
	if *stateDir == "" {
		if state, err = openState(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitRead
		}
	}
	src := scan.Source{Credential: cred}
	deps, err := repairDeps(pipelineParts{Config: cfg, Source: src, State: state, Apply: *apply}, &ledger.Ledger{Store: state})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRead
	}
	who := *by
	if who == "" {
		who = "cli"
		if u, err := user.Current(); err == nil {
			who = "cli:" + u.Username
		}
	}
	res, err := do(ctx, *deps, id, who)
	if errors.Is(err, repair.ErrStale) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFindings
	}
	if errors.Is(err, statestore.ErrNotFound) {
		// An ID nothing was filed under: the command was given a wrong one.
		fmt.Fprintf(stderr, "%s: %v (in %s)\n", name, err, state.Describe())
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRead
	}
	return printRepairResult(stdout, res, *format)
}

func printRepairResult(w io.Writer, res repair.Result, format string) int {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		fmt.Fprintf(w, "%s (%s): %s\n", res.Plan.ID, res.Mode, res.Outcome)
		for _, s := range res.Plan.Steps {
			fmt.Fprintf(w, "  step: %s\n", s)
		}
		for _, pw := range res.Plan.Writes {
			fmt.Fprintf(w, "  write %s %s: %s -> %s\n", pw.Target, pw.Field, pw.From, pw.To)
		}
		if res.Detail != "" {
			fmt.Fprintf(w, "  %s\n", res.Detail)
		}
		if res.JournalID != "" {
			fmt.Fprintf(w, "  journal: %s\n", res.JournalID)
		}
	}
	if res.Outcome == repair.OutcomeBlocked {
		return exitFindings
	}
	return exitOK
}
