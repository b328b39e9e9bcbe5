package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// runRun runs the whole pipeline in one process, as a dry run: scan → jobs →
// handlers → notices, with an in-process queue, the ledger in --state and
// notices written to --outbox (no mail, no webhook, no change to the tenant).
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTenantFlags(fs)
	apply := fs.Bool("apply", false, "let jobs write the safe repairs to the live tenant (never with --snapshot)")
	stateDir := fs.String("state", ".idpkeeper-state", "folder for the ledger, reports and parked jobs")
	outbox := fs.String("outbox", "outbox", "folder the notices are written to")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpkeeper run --snapshot DIR --state DIR --outbox DIR [--config FILE] [--now TIME] [--apply]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	in, code := tf.load(ctx, "run", stderr)
	if code != exitOK {
		return code
	}
	if *apply && in.SnapshotDir != "" {
		fmt.Fprintln(stderr, "run: --apply writes to the live tenant; it cannot be used with --snapshot")
		return exitUsage
	}
	lp, err := localPipeline(in.Config, in.Source, *stateDir, *outbox, in.At, *apply, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitRead
	}
	_, queued, err := lp.ScanAndQueue(ctx, "run:"+time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitRead
	}
	stats, err := lp.queue.Drain(ctx, lp.parkingHandler())
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitRead
	}
	// The report as the jobs left it: what the metadata refreshes learnt
	// counts too, so run reports the findings scan reports.
	res, err := lp.Rejudge(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitRead
	}
	failed := lp.failures(ctx)
	summary := map[string]any{
		"source": res.Report.Source, "findings": len(res.Findings), "jobsQueuedByScan": len(queued),
		"queue": stats, "parked": len(lp.parked), "state": *stateDir, "outbox": *outbox,
	}
	b, _ := json.Marshal(summary)
	fmt.Fprintln(stdout, string(b))
	if len(failed) > 0 {
		// Loud: every job that did not do its work, by name and reason.
		for _, line := range failed {
			fmt.Fprintln(stderr, "run: "+line)
		}
		fmt.Fprintf(stderr, "run: %d job(s) failed; listed above (parked ones also by `idpkeeper jobs dead-letters --state %s`)\n", len(failed), *stateDir)
		return exitRead
	}
	return exitOK
}

// localRun is a pipeline on an in-process queue.
type localRun struct {
	*pipeline.Pipeline
	queue *jobs.Memory

	mu     sync.Mutex
	parked []jobs.Parked // by this run
}

// localPipeline is the pipeline `run` and `events handle` use: an in-process
// queue, the state in a folder, notices to the outbox only.
func localPipeline(cfg *config.Config, src scan.Source, stateDir, outbox string, at time.Time, apply bool, stdout, stderr io.Writer) (*localRun, error) {
	clock, err := clockFor(src, at)
	if err != nil {
		return nil, err
	}
	// The queue keeps the pipeline's clock, so a follow-up scheduled for
	// "tomorrow" of a snapshot stays scheduled instead of running at once.
	mem := jobs.NewMemory(jobs.MemoryOptions{Clock: clock})
	p, err := newPipeline(pipelineParts{
		Config:   cfg,
		Source:   src,
		Sender:   mem,
		State:    statestore.Dir{Root: stateDir},
		Channels: []notify.Channel{notify.Outbox{Dir: outbox, Stdout: stdout}},
		Stdout:   stdout,
		Logger:   funchost.NewLogger(stderr, stderr, slog.LevelWarn),
		Now:      clock,
		Apply:    apply,
	})
	if err != nil {
		return nil, err
	}
	return &localRun{Pipeline: p, queue: mem}, nil
}

// parkingHandler applies the Functions failure policy in process: a job that
// can never succeed is parked with its reason and completed.
func (l *localRun) parkingHandler() jobs.Handler {
	h := l.Handler()
	return func(ctx context.Context, d jobs.Delivery) error {
		err := h(ctx, d)
		if err != nil && jobs.IsPermanent(err) {
			p := jobs.Parked{MessageID: d.MessageID, Queue: string(d.Job.Kind), Reason: err.Error(), Body: string(d.Body), At: time.Now().UTC()}
			if perr := jobs.Park(ctx, l.State, p); perr != nil {
				return perr
			}
			l.mu.Lock()
			l.parked = append(l.parked, p)
			l.mu.Unlock()
			return nil
		}
		return err
	}
}

// failures names every job of this run that did not do its work: each
// dead-lettered message (failed MaxDeliveryCount times, or permanently
// without parking) and each parked job, with its reason.
func (l *localRun) failures(ctx context.Context) []string {
	var out []string
	for _, q := range l.queue.Queues().Names() {
		dls, _ := l.queue.DeadLetters(ctx, q, 0)
		for _, d := range dls {
			what := q
			if d.Job != nil {
				what = string(d.Job.Kind) + " " + d.Job.Dependency
			}
			out = append(out, fmt.Sprintf("dead-lettered %s (%s): %s: %s", d.MessageID, what, d.Reason, d.Description))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.parked {
		out = append(out, fmt.Sprintf("parked %s (%s) as %s: %s", p.MessageID, p.Queue, jobs.ParkedDocument(p.MessageID), p.Reason))
	}
	return out
}
