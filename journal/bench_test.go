package journal

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nullFS accepts every write and sync at once: BenchmarkAppend measures the
// caller's cost of Append, not the disk.
type nullFS struct{}

type nullFile struct{}

func (nullFS) OpenFile(string, int, os.FileMode) (File, error) { return nullFile{}, nil }
func (nullFile) WriteAt(p []byte, _ int64) (int, error)        { return len(p), nil }
func (nullFile) Sync() error                                   { return nil }
func (nullFile) Truncate(int64) error                          { return nil }
func (nullFile) Close() error                                  { return nil }

func benchRecord() Record {
	return Record{Player: "player-0123456789", Seq: 12345, Kind: KindAction, Name: "upgrade_building",
		At: 1764579600000, Version: "3f2a9c1b7d", Args: []byte(`{"building_id":"b3"}`), Hash: 0x1234567890abcdef}
}

// BenchmarkAppend is the cost of Append under the player's lock: encode into
// the shared batch and return a ticket. Every 1024 appends it waits, so the
// backlog stays bounded; the wait is outside the timer.
func BenchmarkAppend(b *testing.B) {
	j := mustOpen(b, b.TempDir(), Options{FS: nullFS{}, MaxDisk: 1 << 50})
	defer j.Close()
	r := benchRecord()
	b.ReportAllocs()
	b.SetBytes(int64(len(Encode(&r))))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk, err := j.Append(r)
		if err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			b.StopTimer()
			tk.Wait(context.Background())
			b.StartTimer()
		}
	}
}

// BenchmarkGroupCommit: n appenders on the real disk, each appending and
// waiting until durable, as a request handler does. Reports records per
// fdatasync, the mean fdatasync time and the p99 of Append+Wait.
func BenchmarkGroupCommit(b *testing.B) {
	for _, c := range []struct {
		n      int
		window time.Duration
	}{{1, 0}, {16, 0}, {256, 0}, {16, time.Millisecond}} {
		n := c.n
		name := fmt.Sprintf("appenders=%d", n)
		if c.window > 0 {
			name += fmt.Sprintf("/window=%s", c.window)
		}
		b.Run(name, func(b *testing.B) {
			j := mustOpen(b, b.TempDir(), Options{MaxDisk: 1 << 40, Window: c.window})
			r := benchRecord()
			waits := make([][]time.Duration, n)
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += n {
						start := time.Now()
						if _, err := j.Write(context.Background(), r); err != nil {
							b.Error(err)
							return
						}
						waits[w] = append(waits[w], time.Since(start))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			st := j.Stats()
			all := slices.Concat(waits...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-wait-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-wait-µs")
			}
			if st.Syncs > 0 {
				b.ReportMetric(float64(st.Records)/float64(st.Syncs), "records/fsync")
				b.ReportMetric(float64(st.SyncNanos)/float64(st.Syncs)/1e3, "fsync-µs")
				b.ReportMetric(float64(st.SyncMaxNanos)/1e3, "fsync-max-µs")
			}
			j.Close()
		})
	}
}

// BenchmarkOpenLoop: records arrive at a fixed rate, each from its own
// goroutine that waits until durable, as the server's request handlers do
// — the load that pacing (SyncInterval) and preallocation are for. Reports
// the process's CPU per record (user+sys: the kernel's fdatasync work is
// charged to the caller), records per fdatasync and the waits. Run it with
// a count, for example -benchtime 20000x.
func BenchmarkOpenLoop(b *testing.B) {
	for _, rate := range []int{2000, 5000} {
		for _, c := range []struct {
			name     string
			interval time.Duration
			noPre    bool
		}{{"paced,prealloc", 0, false}, {"unpaced,prealloc", -1, false}, {"paced,append", 0, true}, {"unpaced,append", -1, true}} {
			b.Run(fmt.Sprintf("rate=%d/%s", rate, c.name), func(b *testing.B) {
				j := mustOpen(b, b.TempDir(), Options{MaxDisk: 1 << 40, SyncInterval: c.interval, NoPreallocate: c.noPre})
				defer j.Close()
				r := benchRecord()
				waits := make([]time.Duration, b.N)
				var wg sync.WaitGroup
				cpu0 := processCPU()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
						time.Sleep(d)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						t0 := time.Now()
						if _, err := j.Write(context.Background(), r); err != nil {
							b.Error(err)
						}
						waits[i] = time.Since(t0)
					}()
				}
				wg.Wait()
				b.StopTimer()
				cpu := processCPU() - cpu0
				st := j.Stats()
				slices.Sort(waits)
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/record")
				b.ReportMetric(float64(waits[len(waits)/2].Microseconds()), "p50-wait-µs")
				b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "p99-wait-µs")
				b.ReportMetric(float64(waits[len(waits)-1].Microseconds()), "max-wait-µs")
				if st.Syncs > 0 {
					b.ReportMetric(float64(st.Records)/float64(st.Syncs), "records/fsync")
					b.ReportMetric(float64(st.SyncNanos)/float64(st.Syncs)/1e3, "fsync-µs")
				}
			})
		}
	}
}

// processCPU is this process's user plus system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendParallel is Append from every core at once (the mutex
// shared by all players).
func BenchmarkAppendParallel(b *testing.B) {
	j := mustOpen(b, b.TempDir(), Options{FS: nullFS{}, MaxDisk: 1 << 50})
	defer j.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := benchRecord()
		for i := 0; pb.Next(); i++ {
			tk, err := j.Append(r)
			if err != nil {
				b.Fatal(err)
			}
			if i%1024 == 1023 {
				tk.Wait(context.Background())
			}
		}
	})
}

// BenchmarkReplay reads a 16 MiB segment of 100-record frames: how long a
// restart spends per segment before the players' records are applied.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	batch := make([]Record, 100)
	for i := range batch {
		batch[i] = benchRecord()
	}
	frame := buildFrame(batch...)
	var seg []byte
	for len(seg) < 16<<20 {
		seg = append(seg, frame...)
	}
	if err := os.WriteFile(dir+"/"+segmentName(0), seg, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Replay(dir, 0, func(LSN, *Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
