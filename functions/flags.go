package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

// tenantFlags are the flags every command that reads the tenant shares:
// where from (--snapshot), with which config (--config), as of when (--now).
type tenantFlags struct {
	snapshot, config, now *string
}

func addTenantFlags(fs *flag.FlagSet) tenantFlags {
	return tenantFlags{
		snapshot: fs.String("snapshot", os.Getenv(settingSnapshot), "read the tenant from this snapshot folder instead of the live tenant (default $"+settingSnapshot+")"),
		config:   fs.String("config", "", "config file (default $"+settingConfig+", else built-in defaults)"),
		now:      fs.String("now", "", "as of this time (RFC 3339 or YYYY-MM-DD); default: the snapshot's capture time, or now"),
	}
}

// tenantInputs are the parsed tenant flags.
type tenantInputs struct {
	Config      *config.Config
	Source      scan.Source
	At          time.Time
	SnapshotDir string
}

// load parses the flags' values; on failure it has printed the reason as
// "cmd: …" and returns the exit code (2 for a usage or config problem, 3 for
// a credential that cannot be had).
func (f tenantFlags) load(ctx context.Context, cmd string, stderr io.Writer) (tenantInputs, int) {
	at, err := parseNow(*f.now)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --now: %v\n", cmd, err)
		return tenantInputs{}, exitUsage
	}
	cfg, err := loadConfig(ctx, *f.config)
	if err != nil {
		return tenantInputs{}, configFailure(ctx, err, stderr)
	}
	src, err := sourceFor(*f.snapshot, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return tenantInputs{}, exitRead
	}
	return tenantInputs{Config: cfg, Source: src, At: at, SnapshotDir: *f.snapshot}, exitOK
}

// configFailure prints why the config could not be had and returns the exit
// code: 2 for a bad file, 3 when a signal stopped the read.
func configFailure(ctx context.Context, err error, stderr io.Writer) int {
	fmt.Fprintln(stderr, err)
	if ctx.Err() != nil {
		return exitRead
	}
	return exitUsage
}
