module numago/bench/skynet

go 1.19
