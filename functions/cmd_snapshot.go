package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/scan"
)

func runSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, "Usage: idpkeeper snapshot export DIR [--config FILE]")
		return exitUsage
	}
	fs := flag.NewFlagSet("snapshot export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default $"+settingConfig+"): names the tenant, vaults and mapped secrets")
	dir, rest := splitPositional(args[1:])
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "snapshot export: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if dir == "" {
		fmt.Fprintln(stderr, "Usage: idpkeeper snapshot export DIR [--config FILE]")
		return exitUsage
	}
	cfg, err := loadConfig(ctx, *configPath)
	if err != nil {
		return configFailure(ctx, err, stderr)
	}
	cred, err := credentialFor(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "snapshot export: %v\n", err)
		return exitRead
	}
	res, t, err := scan.Export(ctx, cfg, scan.Source{Credential: cred}, dir, time.Time{})
	if err != nil {
		fmt.Fprintf(stderr, "snapshot export: %v\n", err)
		return exitRead
	}
	inv := res.Inventory
	fmt.Fprintf(stdout, "snapshot of %s written to %s: %d social IdPs, %d federation partners, %d API connectors, %d user flows, %d secrets, %d gaps (secret values are never recorded)\n",
		t.Label, dir, len(inv.SocialIdentityProviders), len(inv.Federations), len(inv.APIConnectors), len(inv.UserFlows), len(inv.Secrets), len(inv.Gaps))
	return exitOK
}

// splitPositional takes a leading positional argument off args, so that
// `export DIR --config F` works as well as `export --config F DIR` (the flag
// package stops at the first positional).
func splitPositional(args []string) (string, []string) {
	if len(args) > 0 && (args[0] == "-" || len(args[0]) > 0 && args[0][0] != '-') {
		return args[0], args[1:]
	}
	return "", args
}
