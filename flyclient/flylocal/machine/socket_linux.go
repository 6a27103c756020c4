package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// socketPair returns both ends of a new close-on-exec unix socket pair of type typ.
func socketPair(typ int) (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create socket pair: %w", err)
	}

	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}

// unixConn wraps the socket f as a *net.UnixConn. It closes f either way.
func unixConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()

	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("wrap socket: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()

		return nil, fmt.Errorf("wrap socket: got %T, want *net.UnixConn", c)
	}

	return uc, nil
}

// sendCtl writes msg as one control packet, passing f along when it is not nil.
func sendCtl(c *net.UnixConn, msg ctlMsg, f *os.File) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", msg.Op, err)
	}
	var oob []byte
	if f != nil {
		oob = syscall.UnixRights(int(f.Fd()))
	}
	if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("send %s message: %w", msg.Op, err)
	}

	return nil
}

// recvCtl reads one control packet and the file passed with it, if any. It returns
// io.EOF when the peer has closed its end. Received descriptors are close-on-exec.
func recvCtl(c *net.UnixConn) (ctlMsg, *os.File, error) {
	buf := make([]byte, ctlMsgMax)
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = io.EOF
		}

		return ctlMsg{}, nil, err
	}

	f, err := rightsFile(oob[:oobn])
	if err != nil {
		return ctlMsg{}, nil, err
	}
	if n == 0 && f == nil {
		return ctlMsg{}, nil, io.EOF
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		closeIfNotNil(f)

		return ctlMsg{}, nil, errors.New("receive control message: truncated")
	}
	var msg ctlMsg
	if err := json.Unmarshal(buf[:n], &msg); err != nil {
		closeIfNotNil(f)

		return ctlMsg{}, nil, fmt.Errorf("decode control message: %w", err)
	}

	return msg, f, nil
}

// rightsFile returns the first descriptor passed in oob as a file, closing any others.
func rightsFile(oob []byte) (*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control data: %w", err)
	}
	var f *os.File
	for _, cm := range cmsgs {
		fds, err := syscall.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if f == nil {
				f = os.NewFile(uintptr(fd), "passed")

				continue
			}
			syscall.Close(fd)
		}
	}

	return f, nil
}

func closeIfNotNil(f *os.File) {
	if f != nil {
		f.Close()
	}
}
