package machine

import (
	"os/exec"
	"runtime"
	"sync"
)

// The kernel sends an init its parent-death signal when the thread that forked it
// exits, not the process. Go ends a thread when a goroutine locked to it returns, so
// a Start on an ordinary thread could have its machine killed later by unrelated code.
// Every init is therefore forked from one goroutine locked to its thread for good.
var initStarter struct {
	once sync.Once
	reqs chan initStartRequest
}

type initStartRequest struct {
	cmd  *exec.Cmd
	errc chan<- error
}

// startFromForkThread runs cmd.Start on the thread that forks every init.
func startFromForkThread(cmd *exec.Cmd) error {
	initStarter.once.Do(func() {
		initStarter.reqs = make(chan initStartRequest)
		go func() {
			runtime.LockOSThread() // never unlocked, so the thread never exits
			for req := range initStarter.reqs {
				req.errc <- req.cmd.Start()
			}
		}()
	})

	errc := make(chan error, 1)
	initStarter.reqs <- initStartRequest{cmd: cmd, errc: errc}

	return <-errc
}
