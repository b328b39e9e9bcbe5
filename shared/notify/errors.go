package notify

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
)

// ChannelError is a channel failure that retrying cannot fix: the mailbox
// does not exist, the webhook URL is gone, the outbox folder is read-only.
// It says what to change. It implements jobs.PermanentError, so the notice
// job is parked with this text instead of being redelivered until Service
// Bus dead-letters it.
type ChannelError struct {
	err error
	Fix string
}

func permanent(err error, fix string) error { return &ChannelError{err: err, Fix: fix} }

func (e *ChannelError) Error() string {
	if e.Fix == "" {
		return e.err.Error()
	}
	return e.err.Error() + ": " + e.Fix
}

func (e *ChannelError) Unwrap() error { return e.err }

// Permanent implements jobs.PermanentError.
func (e *ChannelError) Permanent() bool { return true }

// isPermanent mirrors jobs.IsPermanent without importing it.
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// NoticeError is what Notify returns when a channel failed. It is permanent
// only when every failed channel failed for good; one transient failure
// makes the whole notice worth retrying (a retry sends only on the channels
// that have not sent it).
type NoticeError struct {
	Text     string
	failures []error
	perm     bool
}

func (e *NoticeError) Error() string { return e.Text }

// Permanent implements jobs.PermanentError.
func (e *NoticeError) Permanent() bool { return e.perm }

// Unwrap gives the channels' errors only when all are permanent, so that
// errors.As on a transient NoticeError cannot find a permanent cause and
// mistake the notice for one to park.
func (e *NoticeError) Unwrap() []error {
	if !e.perm {
		return nil
	}
	return e.failures
}

func newNoticeError(prefix string, errs []error) *NoticeError {
	texts := make([]string, 0, len(errs))
	perm := true
	for _, err := range errs {
		texts = append(texts, err.Error())
		perm = perm && isPermanent(err)
	}
	return &NoticeError{Text: prefix + ": " + strings.Join(texts, "; "), failures: errs, perm: perm}
}

// readOnly reports a folder the process may not write to: a read-only file
// system (a Functions app runs from its package, mounted read-only), or no
// permission.
func readOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}
