package funchost

import (
	"context"
	"io"
	"log/slog"
	"os"
)

// NewLogger returns a text logger that writes Debug and Info records to
// stdout and Warn and above to stderr. The host logs the handler's stdout as
// Information; a stderr line is a Warning when it contains "warn" (slog's
// level=WARN does) and an Error otherwise (WorkerProcess.ParseErrorMessageAndLog
// with HttpWorkerDescription.UseStdErrorStreamForErrorsOnly; [H6], [H7] in
// doc.go). Only this split lets warnings reach Application Insights as
// warnings.
func NewLogger(stdout, stderr io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	return slog.New(splitHandler{
		low:  slog.NewTextHandler(stdout, opts),
		high: slog.NewTextHandler(stderr, opts),
	})
}

// DefaultLogger is NewLogger(os.Stdout, os.Stderr, slog.LevelInfo).
func DefaultLogger() *slog.Logger {
	return NewLogger(os.Stdout, os.Stderr, slog.LevelInfo)
}

type splitHandler struct{ low, high slog.Handler }

func (s splitHandler) pick(l slog.Level) slog.Handler {
	if l >= slog.LevelWarn {
		return s.high
	}
	return s.low
}

func (s splitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.pick(l).Enabled(ctx, l)
}

func (s splitHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.pick(r.Level).Handle(ctx, r)
}

func (s splitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return splitHandler{low: s.low.WithAttrs(as), high: s.high.WithAttrs(as)}
}

func (s splitHandler) WithGroup(name string) slog.Handler {
	return splitHandler{low: s.low.WithGroup(name), high: s.high.WithGroup(name)}
}
