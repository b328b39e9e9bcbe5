package notify

import (
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// A folder on a read-only file system (a Functions app's package) or without
// write permission is a permanent failure naming the fix; anything else
// (a full disk, an I/O error) may pass.
func TestOutboxFolderErrors(t *testing.T) {
	o := Outbox{Dir: "/home/site/wwwroot/outbox"}
	for _, errno := range []syscall.Errno{syscall.EROFS, syscall.EACCES, syscall.EPERM} {
		err := o.folderError(&fs.PathError{Op: "mkdir", Path: o.Dir, Err: errno})
		if !isPermanent(err) || !strings.Contains(err.Error(), "remove notifications.outbox") || !strings.Contains(err.Error(), o.Dir) {
			t.Errorf("%v: %v", errno, err)
		}
	}
	if err := o.folderError(&fs.PathError{Op: "write", Path: o.Dir, Err: syscall.ENOSPC}); isPermanent(err) {
		t.Errorf("ENOSPC became permanent: %v", err)
	}
}
