package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestRelay: bytes go both ways through the relay; a target that refuses
// closes the client's connection; Close cuts what is relayed and refuses
// what comes after.
func TestRelay(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	down := FreeAddr(t) // nothing listens there
	var target atomic.Value
	target.Store(echo.Addr().String())
	r := StartRelay(t, func() (net.Conn, error) { return net.Dial("tcp", target.Load().(string)) }, nil)

	c, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); line != "ping\n" || err != nil {
		t.Fatalf("echo through the relay: %q, %v; want ping", line, err)
	}

	target.Store(down) // new connections find the target down
	refused, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read with the target down: %v, want EOF (closed)", err)
	}

	r.Close()
	var timeout net.Error
	if _, err := br.ReadByte(); err == nil || errors.As(err, &timeout) && timeout.Timeout() {
		t.Errorf("read from a relayed connection after Close: %v, want it closed", err)
	}
	if after, err := net.Dial("tcp", r.Addr); err == nil {
		after.Close()
		t.Error("the relay accepts after Close")
	}
}
