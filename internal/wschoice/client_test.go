package wschoice

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// The client is a minimal raw-TCP WebSocket client, identical for every
// server under test, so that memory deltas differ only by the server library.
// Idle clients hold just the net.Conn; no goroutine, no buffer.

const clientKey = "dGhlIHNhbXBsZSBub25jZQ=="

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// dialRaw opens a TCP connection to addr ("host:port") and performs the
// WebSocket upgrade handshake. The server sends nothing after the 101 response
// until it is sent a message, so no byte beyond the header may arrive.
func dialRaw(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + clientKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [1024]byte
	n := 0
	for {
		m, err := nc.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			if i+4 != n {
				nc.Close()
				return nil, fmt.Errorf("unexpected %d bytes after handshake", n-i-4)
			}
			break
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("handshake: %w (read %q)", err, buf[:n])
		}
		if n == len(buf) {
			nc.Close()
			return nil, fmt.Errorf("handshake response too long")
		}
	}
	resp := string(buf[:n])
	if !strings.HasPrefix(resp, "HTTP/1.1 101") || !strings.Contains(resp, acceptKey(clientKey)) {
		nc.Close()
		return nil, fmt.Errorf("bad handshake response %q", resp)
	}
	_ = nc.SetReadDeadline(time.Time{})
	return nc, nil
}

// maskedTextFrame returns a complete masked, final text frame for payload.
func maskedTextFrame(payload []byte) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	var f []byte
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x81, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x81, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		panic("payload too large for test client")
	}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// echoClient sends a fixed, pre-masked request and reads the reply into a
// reused buffer: it allocates nothing per round trip.
type echoClient struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte
	buf   []byte
}

func newEchoClient(addr string, req []byte) (*echoClient, error) {
	nc, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	return &echoClient{nc: nc, br: bufio.NewReaderSize(nc, 4096), frame: maskedTextFrame(req), buf: make([]byte, 0, 512)}, nil
}

// roundTrip writes one request and returns the payload of the reply (valid
// until the next call).
func (c *echoClient) roundTrip() ([]byte, error) {
	if _, err := c.nc.Write(c.frame); err != nil {
		return nil, err
	}
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:2]); err != nil {
		return nil, err
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 {
		return nil, fmt.Errorf("unexpected frame header % x", h[:2])
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, h[:8]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint64(h[:8]))
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.br, c.buf); err != nil {
		return nil, err
	}
	return c.buf, nil
}

// sampleRequest is a ~100-byte JSON request.
func sampleRequest(id int64) []byte {
	b, err := json.Marshal(request{ID: id, Op: "move", Room: "lobby-7", Seq: 42, X: 12.5, Y: -3.25, Data: "abcdefghijklmnopqrstuvwx"})
	if err != nil {
		panic(err)
	}
	return b
}
