//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Ping checks that ip answers ICMP echo from inside the namespace: with
// ping(8) when the host has it, else with a raw socket opened in the
// namespace (iputils-ping is not among the host packages we may install).
func (n *Net) Ping(ip string) error {
	if _, err := exec.LookPath("ping"); err == nil {
		out, err := n.Cmd("ping", "-c", "3", "-i", "0.3", "-W", "2", ip).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ping %s in %s: %v: %s", ip, n.NS, err, out)
		}
		return nil
	}
	dst := net.ParseIP(ip).To4()
	if dst == nil {
		return fmt.Errorf("ping: %q is not IPv4", ip)
	}
	errc := make(chan error, 1)
	go func() {
		// This thread enters the namespace and goes back before it is
		// unlocked. Should going back fail, the goroutine parks forever
		// rather than let the runtime end the thread: QEMU's Pdeathsig
		// follows the thread that forked it, which may have been this one.
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer back.Close()
		errc <- n.icmpEcho(dst)
		if _, _, e := syscall.RawSyscall(sysSetns, back.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			select {} // keep the thread, locked, out of the pool
		}
		runtime.UnlockOSThread()
	}()
	return <-errc
}

func (n *Net) icmpEcho(dst net.IP) error {
	f, err := os.Open("/var/run/netns/" + n.NS)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		return fmt.Errorf("setns %s: %v", n.NS, e)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("icmp socket: %v", err)
	}
	defer syscall.Close(fd)
	tv := syscall.NsecToTimeval(int64(time.Second))
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	id := uint16(os.Getpid())
	var sa syscall.SockaddrInet4
	copy(sa.Addr[:], dst)
	for seq := uint16(1); seq <= 5; seq++ {
		pkt := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'e', '2', 'e', '!'}
		cs := icmpChecksum(pkt)
		pkt[2], pkt[3] = byte(cs>>8), byte(cs)
		if err := syscall.Sendto(fd, pkt, 0, &sa); err != nil {
			return fmt.Errorf("icmp send to %s: %v", dst, err)
		}
		deadline := time.Now().Add(2 * time.Second)
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			m, from, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout: retry until deadline
			}
			src, ok := from.(*syscall.SockaddrInet4)
			if !ok || !net.IP(src.Addr[:]).Equal(dst) || m < 20 {
				continue
			}
			hl := int(buf[0]&0x0f) * 4 // raw IPv4 sockets deliver the IP header
			if m < hl+8 {
				continue
			}
			icmp := buf[hl:m]
			if icmp[0] == 0 && uint16(icmp[4])<<8|uint16(icmp[5]) == id && uint16(icmp[6])<<8|uint16(icmp[7]) == seq {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %s in %s: no echo reply to 5 requests", dst, n.NS)
}

// sysSetns is setns(2) on linux/amd64 (the syscall package lacks the name).
const sysSetns = 308

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
