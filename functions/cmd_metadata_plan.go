package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

// runMetadataPlan shows what a metadata refresh would change for one
// partner. It never writes to the tenant: applying is the repair step's job.
func runMetadataPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metadata plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTenantFlags(fs)
	format := fs.String("format", "table", "table or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper metadata plan PARTNER [--snapshot DIR] [--config FILE] [--now TIME] [--format table|json]")
		fmt.Fprintln(stderr, "PARTNER is the federation's Graph ID, one of its domains, or its display name.")
		fs.PrintDefaults()
	}
	partner, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if partner == "" && fs.NArg() == 1 {
		partner = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "metadata plan: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if partner == "" || (*format != "table" && *format != "json") {
		fs.Usage()
		return exitUsage
	}
	in, code := tf.load(ctx, "metadata plan", stderr)
	if code != exitOK {
		return code
	}
	cfg, at := in.Config, in.At
	t, err := scan.OpenContext(ctx, cfg, in.Source)
	if err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitRead
	}
	inv, err := t.Reader.Read(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitRead
	}
	fed, err := scan.FindFederation(inv, partner)
	if err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitUsage
	}
	if at.IsZero() {
		at = inv.CapturedAt
	}
	md, err := metadataOptions(ctx, in.SnapshotDir, in.Config)
	if err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitRead
	}
	pp, err := t.PlanPartner(ctx, cfg, *fed, *md, at)
	if err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitUsage
	}
	if *format == "table" {
		fmt.Fprintf(stdout, "%s (%s)\n", fed.DisplayName, strings.Join(fed.Domains, ", "))
		*format = metadata.FormatText
	}
	if err := metadata.WritePlan(stdout, pp.Plan, *format); err != nil {
		fmt.Fprintf(stderr, "metadata plan: %v\n", err)
		return exitRead
	}
	return exitOK
}
