// Go peer for bench_tasks' skynet: a 10-ary tree of goroutines, each leaf
// sends its number, each inner goroutine sums its children's over an
// unbuffered channel (the skynet benchmark, github.com/atemerev/skynet).
// Usage: skynet SIZE REPS (GOMAXPROCS from the environment).
// Prints "result <sum> times <s>..." after one untimed warm-up run; the
// result is -1 if the runs disagree.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func skynet(c chan int64, num int64, size int64, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	var sum int64
	for i := int64(0); i < div; i++ {
		subNum := num + i*(size/div)
		go skynet(rc, subNum, size/div, div)
	}
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: skynet SIZE REPS")
		os.Exit(2)
	}
	size, err1 := strconv.ParseInt(os.Args[1], 10, 64)
	reps, err2 := strconv.Atoi(os.Args[2])
	if err1 != nil || err2 != nil || size < 1 || reps < 1 {
		fmt.Fprintln(os.Stderr, "usage: skynet SIZE REPS")
		os.Exit(2)
	}
	times := make([]float64, 0, reps)
	var first, v int64
	same := true
	for r := 0; r <= reps; r++ { // r == 0: warm-up
		c := make(chan int64)
		t0 := time.Now()
		go skynet(c, 0, size, 10)
		v = <-c
		el := time.Since(t0).Seconds()
		if r == 0 {
			first = v
		} else {
			times = append(times, el)
		}
		same = same && v == first
	}
	if !same {
		v = -1
	}
	fmt.Printf("result %d times", v)
	for _, t := range times {
		fmt.Printf(" %.6f", t)
	}
	fmt.Println()
}
