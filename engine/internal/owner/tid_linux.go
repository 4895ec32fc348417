package owner

import "syscall"

// threadID is the kernel's ID of the calling OS thread.
func threadID() int { return syscall.Gettid() }
