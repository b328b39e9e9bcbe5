package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
)

// runEvents feeds Event Grid events from a file (a JSON array or one event,
// Event Grid or CloudEvents schema) to the code the KeyVaultEvents function
// runs, and prints one JSON line per event. Jobs go to an in-process queue
// and are listed, not run (`idpkeeper run` runs the whole pipeline) — except
// a resolve-secret job, which the function would hand to a job: here it is
// run at once, so the line says what the event finally leads to.
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
	// Judge events exactly as the function does: from the secret index a
	// timer scan stores (here: a scan of the tenant or snapshot now).
	if err := lp.StoreSecretIndex(ctx); err != nil {
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
		if err == nil {
			out, err = lp.resolveNow(ctx, out)
		}
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

// resolveNow runs the resolve-secret job an event queued (the function
// answers Event Grid first and resolves in a job; the command line can
// wait) and reports what it led to: the rotation jobs it queued, or that
// the object backs nothing.
func (l *localRun) resolveNow(ctx context.Context, out pipeline.EventOutcome) (pipeline.EventOutcome, error) {
	resolving := false
	for _, j := range out.Jobs {
		resolving = resolving || j.Kind == jobs.KindResolveSecret
	}
	if !resolving {
		return out, nil
	}
	var pending []jobs.Delivery
	if _, err := l.queue.Drain(ctx, func(_ context.Context, d jobs.Delivery) error { pending = append(pending, d); return nil }); err != nil {
		return out, err
	}
	h := l.Handler()
	for _, d := range pending {
		if d.Job.Kind == jobs.KindResolveSecret {
			if err := h(ctx, d); err != nil {
				return out, err
			}
		}
	}
	var queued []pipeline.JobRef
	if _, err := l.queue.Drain(ctx, func(_ context.Context, d jobs.Delivery) error {
		queued = append(queued, pipeline.JobRef{Kind: d.Job.Kind, MessageID: d.MessageID, Dependency: d.Job.Dependency})
		return nil
	}); err != nil {
		return out, err
	}
	if len(queued) == 0 {
		out.Outcome, out.Jobs = pipeline.EventIgnored, []pipeline.JobRef{}
		out.Reason = "not in the last scan's index; looked up: backs no dependency (no idpkeeper-dependency tag, not in the config)"
		return out, nil
	}
	out.Jobs = queued
	out.Reason = fmt.Sprintf("not in the last scan's index; looked up: backs %d dependenc%s", len(queued), map[bool]string{true: "y", false: "ies"}[len(queued) == 1])
	return out, nil
}
