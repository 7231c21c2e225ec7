// Go peer for bench_idle: CPU time (user+sys, µs) the process uses over one
// second while N goroutines are parked on channels and one timer is pending
// far in the future.
// Usage: go run . N   (prints microseconds of CPU used during the second)
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func cpu() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}

func main() {
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: idle N")
		os.Exit(2)
	}
	var started sync.WaitGroup
	release := make(chan struct{})
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
		}()
	}
	started.Wait()
	t := time.NewTimer(time.Hour)
	time.Sleep(100 * time.Millisecond) // let spinning threads settle
	before := cpu()
	time.Sleep(time.Second)
	fmt.Printf("%d\n", cpu()-before)
	t.Stop()
	close(release)
}
