package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
)

// runEvents feeds Event Grid events from a file (a JSON array or one event,
// Event Grid or CloudEvents schema) to the code the KeyVaultEvents function
// runs, and prints one JSON line per event. Jobs go to an in-process queue
// and are listed, not run (`idpkeeper run` runs the whole pipeline).
//
// Exit status: 0 when every event was queued or ignored, 1 when any was
// rejected as malformed, 2 for usage errors, 3 when the file, snapshot or
// tenant could not be read.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "handle" {
		fmt.Fprintln(stderr, "Usage: idpkeeper events handle FILE [--snapshot DIR] [--config FILE]")
		return exitUsage
	}
	fs := flag.NewFlagSet("events handle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTenantFlags(fs)
	file, rest := splitPositional(args[1:])
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "events handle: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if file == "" {
		fmt.Fprintln(stderr, "Usage: idpkeeper events handle FILE [--snapshot DIR] [--config FILE]")
		return exitUsage
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "events handle: %v\n", err)
		return exitRead
	}
	in, code := tf.load(ctx, "events handle", stderr)
	if code != exitOK {
		return code
	}
	state, err := os.MkdirTemp("", "idpkeeper-events-")
	if err != nil {
		fmt.Fprintf(stderr, "events handle: %v\n", err)
		return exitRead
	}
	defer os.RemoveAll(state)
	lp, err := localPipeline(in.Config, in.Source, state, state, in.At, false, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "events handle: %v\n", err)
		return exitRead
	}
	enc := json.NewEncoder(stdout)
	raws, err := events.Split(data)
	if err != nil {
		// The whole input is unreadable: one rejected line says so.
		enc.Encode(pipeline.EventOutcome{Outcome: pipeline.EventRejected, Reason: err.Error(), Jobs: []pipeline.JobRef{}})
		return exitFindings
	}
	for _, r := range raws {
		out, err := lp.HandleEvent(ctx, r)
		if err != nil {
			fmt.Fprintf(stderr, "events handle: %v\n", err)
			return exitRead
		}
		if out.Outcome == pipeline.EventRejected {
			code = exitFindings
		}
		// (events handle runs against a throwaway state folder: the rejected
		// event is reported on its line, not parked.)
		enc.Encode(out)
	}
	return code
}
