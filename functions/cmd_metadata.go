package main

import (
	"context"
	"fmt"
	"io"

	"github.com/idpkeeper/idpkeeper/shared/metadata"
)

func runMetadata(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "inspect":
			return metadata.InspectCommand(ctx, args[1:], stdout, stderr)
		case "plan":
			return runMetadataPlan(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "Usage: idpkeeper metadata inspect FILE|URL [--entity ENTITYID] [--trust CERT.pem | --trust-sha256 HEX] [--format json]")
	fmt.Fprintln(stderr, "       idpkeeper metadata plan PARTNER [--snapshot DIR] [--config FILE] [--now TIME] [--format table|json]")
	return exitUsage
}
